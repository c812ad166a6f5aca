"""The rules, one module per rule-id prefix, each rule declared with its check.

Find a rule by its id: ``modelservice rules ID`` names its module. The modules:

- ``file``: the document (``values-*``, ``yaml-reader-differs``; reading the file itself,
  ``file-*`` and ``yaml-*``, is :mod:`modelservice.values.loader`'s)
- ``secrets``: ``secret-literal``
- ``schema``: ``schema-*``, ``null-removes-default`` (declared by :mod:`modelservice.schema.check`)
- ``k8s``: ``k8s-*`` on Kubernetes objects passed through (``passthrough``) and what an API
  server refuses on the rendered objects (``api``, with ``resources-request-above-limit``)
- ``engine_args``: ``engine-arg-*`` on engine.args (``flags``) and on the rendered command line
  (``rendered``: flags the chart renders, repeated; flags that reach for a hub offline)
- ``model``: ``model-*-required``, ``local-path-*``; ``fit``: ``model-does-not-fit``,
  ``max-model-len-does-not-fit``
- ``download``: ``download-*``, ``speculative-*``; ``lora``: ``lora-*``
- ``gpu``: ``gpu-*``, ``vgpu-*``, ``tensor-parallel-mismatch``, ``shm-*``, ``resources-gpu``
- ``storage``: the cache and volumes (``no-model-cache``, ``rwo-*``, ``rolling-update-*``,
  ``autoscaling-rwo-cache``, ``existing-claim-*``, ``volume-*``)
- ``env``: ``env-*``; ``image``: ``image-*``; ``metrics``: ``scrape-*``
- ``scale``: ``autoscaling-*``, ``multi-node-*``
- ``routing``: ``routing-*`` (the InferencePool, its endpoint picker, KV events; the cluster's
  side of it is ``cluster.routing``)
- ``template``: the chart's own refusals, read from the render (``helm-render`` for the rest)
- ``cluster``: ``check-*`` (``modelservice check``)

Every module here registers its checks when imported; :func:`load` imports them all, found by
walking this package, so the driver never keeps a list of its own. The ``cluster`` stage's
modules are imported only for that stage (``modelservice check``): ``validate`` never runs them.
"""

from __future__ import annotations

from functools import cache

from ..core.rules import REGISTRY, Registry, Stage

#: The subpackage of the cluster stage's checks.
_CLUSTER = __name__ + ".cluster"


def load(stage: Stage | None = None) -> Registry:
    """The registry, with every check of ``stage`` registered (of every stage when None);
    the checks of the other stages may be registered too."""
    return _load(cluster=stage in (None, "cluster"))


@cache
def _load(*, cluster: bool) -> Registry:
    import importlib
    import pkgutil

    folders, prefix = list(__path__), __name__ + "."
    pending = [(folders, prefix)]
    while pending:  # walk_packages, less the packages skipped (it imports every package)
        folders, prefix = pending.pop()
        for info in pkgutil.iter_modules(folders, prefix):
            if info.name == _CLUSTER and not cluster:
                continue
            module = importlib.import_module(info.name)
            if info.ispkg:
                pending.append((list(module.__path__), info.name + "."))
    return REGISTRY
