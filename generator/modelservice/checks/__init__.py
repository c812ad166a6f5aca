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
walking this package, so the driver never keeps a list of its own.
"""

from __future__ import annotations

from functools import cache

from ..core.rules import REGISTRY, Registry


@cache
def load() -> Registry:
    """The registry, with every check of this package registered."""
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(__path__, __name__ + "."):
        importlib.import_module(info.name)
    return REGISTRY
