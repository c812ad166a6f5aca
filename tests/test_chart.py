"""What each values key does to the rendered objects (rendered by the real Helm engine)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from conftest import CHART, Objects
from modelservice.core.errors import EngineError
from modelservice.helm.engine import render

HF = {"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}}


def with_hf(**extra):
    values = {"model": dict(HF["model"])}
    for key, value in extra.items():
        if key == "model":
            values["model"].update(value)
        else:
            values[key] = value
    return values


# -- the server command ------------------------------------------------------------------------


def test_runs_vllm_serve_with_the_model_as_its_first_argument(objects):
    server = objects(with_hf()).server
    assert server["command"] == ["vllm", "serve"]
    assert server["args"][0] == "Qwen/Qwen2.5-0.5B-Instruct"


def test_serves_the_hub_id_as_the_model_name_by_default(objects):
    args = objects(with_hf()).server["args"]
    assert args[args.index("--served-model-name") + 1] == "Qwen/Qwen2.5-0.5B-Instruct"


def test_serves_model_servedmodelname_when_set(objects):
    args = objects(with_hf(model={"servedModelName": "qwen-small"})).server["args"]
    assert args[args.index("--served-model-name") + 1] == "qwen-small"


def test_serves_the_last_path_segment_for_a_local_model(objects):
    values = {"model": {"source": "local", "path": "/models/Llama-3-8B/"}}
    server = objects(values).server
    assert server["args"][0] == "/models/Llama-3-8B/"
    assert server["args"][server["args"].index("--served-model-name") + 1] == "Llama-3-8B"


def test_passes_model_revision_to_the_server_and_the_download(objects):
    rendered = objects(with_hf(model={"revision": "v1.1"}))
    args = rendered.server["args"]
    assert args[args.index("--revision") + 1] == "v1.1"
    download = rendered.download["args"]
    assert download[download.index("--revision") + 1] == "v1.1"


def test_listens_on_engine_port_and_names_it_http(objects):
    server = objects(with_hf(engine={"port": 9000})).server
    assert server["args"][server["args"].index("--port") + 1] == "9000"
    assert server["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]


def test_appends_engine_args_after_the_rendered_ones_in_order(objects):
    args = objects(with_hf(engine={"args": ["--dtype=half", "--max-model-len", "4096"]})).server[
        "args"
    ]
    assert args[-3:] == ["--dtype=half", "--max-model-len", "4096"]


def test_tensor_parallel_size_defaults_to_the_gpus_of_the_pod(objects):
    args = objects(with_hf(gpu={"count": 4})).server["args"]
    assert args[args.index("--tensor-parallel-size") + 1] == "4"


def test_engine_tensorparallelsize_overrides_the_gpu_count(objects):
    args = objects(with_hf(gpu={"count": 4}, engine={"tensorParallelSize": 2})).server["args"]
    assert args[args.index("--tensor-parallel-size") + 1] == "2"


def test_the_image_is_the_pinned_vllm_release(objects):
    server = objects(with_hf()).server
    assert server["image"] == "vllm/vllm-openai:v0.33.0"
    assert server["imagePullPolicy"] == "IfNotPresent"


def test_an_image_digest_pins_the_image_instead_of_the_tag(objects):
    digest = "sha256:" + "a" * 64
    server = objects(with_hf(image={"digest": digest})).server
    assert server["image"] == f"vllm/vllm-openai@{digest}"


def test_image_pull_secrets_reach_the_pod(objects):
    pod = objects(with_hf(imagePullSecrets=[{"name": "regcred"}])).pod
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]


# -- model download ----------------------------------------------------------------------------


def test_downloads_a_hugging_face_model_in_an_init_container_with_the_same_image(objects):
    rendered = objects(with_hf())
    download = rendered.download
    assert download["command"][:2] == ["bash", "-ec"]
    assert download["args"] == [
        "hf",
        "download",
        "Qwen/Qwen2.5-0.5B-Instruct",
        "--exclude",
        "original/*",
        "--exclude",
        "consolidated*",
        "--max-workers",
        "8",
        ";",
    ]
    assert download["image"] == rendered.server["image"]
    assert download["volumeMounts"] == rendered.server["volumeMounts"]


def test_the_server_stays_offline_once_the_init_container_filled_the_cache(objects):
    assert objects(with_hf()).env()["HF_HUB_OFFLINE"] == "1"


def test_downloads_a_modelscope_model_with_modelscope_download(objects):
    values = {"model": {"source": "modelscope", "name": "Qwen/Qwen2.5-7B-Instruct"}}
    rendered = objects(values)
    # The repository id is positional: `--model` is deprecated in the modelscope CLI.
    assert rendered.download["args"][:3] == ["modelscope", "download", "Qwen/Qwen2.5-7B-Instruct"]
    assert rendered.env()["VLLM_USE_MODELSCOPE"] == "True"
    # vLLM reads HF_HUB_OFFLINE for ModelScope too (local_files_only): no hub at startup.
    assert rendered.env()["HF_HUB_OFFLINE"] == "1"


def test_renders_no_init_container_when_model_download_is_disabled(objects):
    rendered = objects(with_hf(model={"download": {"enabled": False}}))
    assert "initContainers" not in rendered.pod
    assert "HF_HUB_OFFLINE" not in rendered.env()


def test_renders_no_init_container_for_a_local_model(objects):
    rendered = objects({"model": {"source": "local", "path": "/models/m"}})
    assert "initContainers" not in rendered.pod


# -- hub access and env ------------------------------------------------------------------------


def test_huggingface_endpoint_becomes_hf_endpoint_in_both_containers(objects):
    rendered = objects(with_hf(huggingface={"endpoint": "https://hf-mirror.com"}))
    assert rendered.env()["HF_ENDPOINT"] == "https://hf-mirror.com"
    assert rendered.env(rendered.download)["HF_ENDPOINT"] == "https://hf-mirror.com"


def test_the_hugging_face_token_reaches_the_pod_only_through_a_secret_key_ref(objects):
    rendered = objects(with_hf(huggingface={"token": {"secretName": "hf-token"}}))
    for container in (rendered.server, rendered.download):
        ref = rendered.env(container)["HF_TOKEN"]
        assert ref == {"secretKeyRef": {"name": "hf-token", "key": "token"}}
    assert "hf-token" not in str(rendered.server.get("args"))


def test_huggingface_token_secretkey_picks_the_key_of_the_secret(objects):
    rendered = objects(
        with_hf(huggingface={"token": {"secretName": "hf", "secretKey": "HF_TOKEN"}})
    )
    assert rendered.env()["HF_TOKEN"]["secretKeyRef"] == {"name": "hf", "key": "HF_TOKEN"}


def test_renders_no_hf_token_without_a_secret(objects):
    assert "HF_TOKEN" not in objects(with_hf()).env()


def test_modelscope_endpoint_and_token_become_modelscope_env(objects):
    values = {
        "model": {"source": "modelscope", "name": "Qwen/Qwen2.5-7B-Instruct"},
        "modelscope": {
            "endpoint": "https://www.modelscope.ai",
            "token": {"secretName": "ms-token"},
        },
    }
    env = objects(values).env()
    # MODELSCOPE_DOMAIN is deprecated in the modelscope SDK for MODELSCOPE_ENDPOINT.
    assert env["MODELSCOPE_ENDPOINT"] == "https://www.modelscope.ai"
    assert "MODELSCOPE_DOMAIN" not in env
    assert env["MODELSCOPE_API_TOKEN"] == {"secretKeyRef": {"name": "ms-token", "key": "token"}}


def test_cache_locations_live_under_the_persistence_mount_path(objects):
    env = objects(with_hf(persistence={"mountPath": "/cache"})).env()
    assert env["HF_HOME"] == "/cache/huggingface"
    assert env["MODELSCOPE_CACHE"] == "/cache/modelscope"
    assert env["VLLM_CACHE_ROOT"] == "/cache/vllm"


def test_user_env_and_envfrom_reach_both_containers_after_the_charts_own(objects):
    env = [{"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"}]
    env_from = [{"configMapRef": {"name": "vllm-extra"}}]
    rendered = objects(with_hf(env=env, envFrom=env_from))
    for container in (rendered.server, rendered.download):
        assert container["env"][-1] == env[0]
        assert container["envFrom"] == env_from


# -- resources, GPUs and vGPUs -----------------------------------------------------------------


def test_one_whole_gpu_by_default_in_limits_only(objects):
    resources = objects(with_hf()).server["resources"]
    assert resources["limits"] == {"nvidia.com/gpu": "1"}
    assert "nvidia.com/gpu" not in resources["requests"]


def test_gpu_count_and_resource_name_set_the_extended_resource(objects):
    values = with_hf(
        gpu={"count": 2, "resourceName": "amd.com/gpu"},
        image={"repository": "vllm/vllm-openai-rocm"},
    )
    assert objects(values).server["resources"]["limits"] == {"amd.com/gpu": "2"}


def test_cpu_and_memory_resources_are_kept_beside_the_gpus(objects):
    resources = {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"memory": "24Gi"}}
    rendered = objects(with_hf(resources=resources)).server["resources"]
    assert rendered["requests"] == {"cpu": "4", "memory": "16Gi"}
    assert rendered["limits"] == {"memory": "24Gi", "nvidia.com/gpu": "1"}


def test_gpu_pods_run_with_the_nvidia_runtime_class(objects):
    assert objects(with_hf()).pod["runtimeClassName"] == "nvidia"


def test_an_empty_runtime_class_name_renders_none(objects):
    assert "runtimeClassName" not in objects(with_hf(gpu={"runtimeClassName": ""})).pod


def test_a_cpu_only_pod_has_no_gpu_resources_and_no_gpu_runtime(objects):
    values = with_hf(gpu={"count": 0}, image={"repository": "vllm/vllm-openai-cpu"})
    rendered = objects(values)
    assert "limits" not in rendered.server["resources"]
    assert "runtimeClassName" not in rendered.pod
    args = rendered.server["args"]
    assert args[args.index("--tensor-parallel-size") + 1] == "1"


def test_a_hami_vgpu_slice_renders_count_memory_and_cores_limits(objects):
    values = with_hf(vgpu={"enabled": True, "memoryMiB": 8000, "coresPercent": 50})
    rendered = objects(values)
    assert rendered.server["resources"]["limits"] == {
        "nvidia.com/gpu": "1",
        "nvidia.com/gpumem": "8000",
        "nvidia.com/gpucores": "50",
    }
    assert "schedulerName" not in rendered.pod


def test_a_volcano_vgpu_slice_renders_volcano_resources_and_scheduler(objects):
    values = with_hf(
        vgpu={"enabled": True, "provider": "volcano", "memoryMiB": 8000, "coresPercent": 50}
    )
    rendered = objects(values)
    assert rendered.server["resources"]["limits"] == {
        "volcano.sh/vgpu-number": "1",
        "volcano.sh/vgpu-memory": "8000",
        "volcano.sh/vgpu-cores": "50",
    }
    assert rendered.pod["schedulerName"] == "volcano"


def test_vgpu_resource_names_can_be_overridden_for_another_device_plugin(objects):
    values = with_hf(
        vgpu={
            "enabled": True,
            "memoryMiB": 4096,
            "resourceNames": {"memory": "example.com/vgpu-mem"},
        }
    )
    limits = objects(values).server["resources"]["limits"]
    assert limits["example.com/vgpu-mem"] == "4096"
    assert "nvidia.com/gpumem" not in limits


def test_an_explicit_scheduler_name_wins_over_volcano(objects):
    values = with_hf(
        vgpu={"enabled": True, "provider": "volcano", "memoryMiB": 1000},
        schedulerName="my-scheduler",
    )
    assert objects(values).pod["schedulerName"] == "my-scheduler"


# -- volumes -----------------------------------------------------------------------------------


def test_creates_a_cache_claim_kept_on_uninstall_and_mounts_it_at_root_cache(objects):
    rendered = objects(with_hf())
    pvc = rendered.one("PersistentVolumeClaim")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert "storageClassName" not in pvc["spec"]
    volume = next(v for v in rendered.pod["volumes"] if v["name"] == "cache")
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert {"name": "cache", "mountPath": "/root/.cache"} in rendered.server["volumeMounts"]


def test_persistence_size_class_and_modes_shape_the_claim(objects):
    values = with_hf(
        persistence={
            "size": "200Gi",
            "storageClassName": "fast-ssd",
            "accessModes": ["ReadWriteMany"],
        }
    )
    spec = objects(values).one("PersistentVolumeClaim")["spec"]
    assert spec["storageClassName"] == "fast-ssd"
    assert spec["accessModes"] == ["ReadWriteMany"]
    assert spec["resources"]["requests"]["storage"] == "200Gi"


def test_a_dash_storage_class_renders_an_empty_storage_class_name(objects):
    spec = objects(with_hf(persistence={"storageClassName": "-"})).one("PersistentVolumeClaim")[
        "spec"
    ]
    assert spec["storageClassName"] == ""


def test_the_claim_is_deleted_on_uninstall_when_keeponuninstall_is_false(objects):
    pvc = objects(with_hf(persistence={"keepOnUninstall": False})).one("PersistentVolumeClaim")
    assert "helm.sh/resource-policy" not in (pvc["metadata"].get("annotations") or {})


def test_renders_no_pvc_when_persistence_existingclaim_is_set(objects):
    rendered = objects(with_hf(persistence={"existingClaim": "model-cache"}))
    assert rendered.of_kind("PersistentVolumeClaim") == []
    volume = next(v for v in rendered.pod["volumes"] if v["name"] == "cache")
    assert volume["persistentVolumeClaim"]["claimName"] == "model-cache"


def test_renders_an_emptydir_cache_and_no_pvc_when_persistence_is_disabled(objects):
    rendered = objects(with_hf(persistence={"enabled": False}))
    assert rendered.of_kind("PersistentVolumeClaim") == []
    volume = next(v for v in rendered.pod["volumes"] if v["name"] == "cache")
    assert volume == {"name": "cache", "emptyDir": {}}


def test_dev_shm_is_a_memory_backed_emptydir_with_its_size_limit(objects):
    rendered = objects(with_hf(shm={"sizeLimit": "32Gi"}))
    volume = next(v for v in rendered.pod["volumes"] if v["name"] == "dshm")
    assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "32Gi"}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in rendered.server["volumeMounts"]


def test_renders_no_dev_shm_when_shm_is_disabled(objects):
    rendered = objects(with_hf(shm={"enabled": False}))
    assert all(v["name"] != "dshm" for v in rendered.pod["volumes"])
    assert all(m["mountPath"] != "/dev/shm" for m in rendered.server["volumeMounts"])


def test_extra_volumes_and_mounts_serve_a_local_model_from_an_existing_claim(objects):
    values = {
        "model": {"source": "local", "path": "/models/llama"},
        "persistence": {"enabled": False},
        "extraVolumes": [{"name": "models", "persistentVolumeClaim": {"claimName": "weights"}}],
        "extraVolumeMounts": [{"name": "models", "mountPath": "/models", "readOnly": True}],
    }
    rendered = objects(values)
    assert {"name": "models", "persistentVolumeClaim": {"claimName": "weights"}} in rendered.pod[
        "volumes"
    ]
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in rendered.server[
        "volumeMounts"
    ]


# -- update strategy and replicas --------------------------------------------------------------


def test_recreates_pods_when_the_cache_is_a_readwriteonce_claim(objects):
    assert objects(with_hf()).deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_rolls_gpu_pods_one_at_a_time_without_surge_when_the_cache_is_readwritemany(objects):
    # A surge pod would need GPUs beyond the release's own (tests/test_gpu_rollouts.py shows it
    # blocking on a full cluster).
    values = with_hf(persistence={"existingClaim": "shared", "accessModes": ["ReadWriteMany"]})
    assert objects(values).deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }


def test_rolls_cpu_pods_with_kubernetes_default_surge(objects):
    values = with_hf(
        gpu={"count": 0},
        image={"repository": "vllm/vllm-openai-cpu"},
        persistence={"existingClaim": "shared", "accessModes": ["ReadWriteMany"]},
    )
    assert objects(values).deployment["spec"]["strategy"] == {"type": "RollingUpdate"}


def test_an_explicit_strategy_is_rendered_as_given(objects):
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    assert objects(with_hf(strategy=strategy)).deployment["spec"]["strategy"] == strategy


def test_replicacount_sets_the_replicas(objects):
    values = with_hf(
        replicaCount=3, persistence={"existingClaim": "c", "accessModes": ["ReadWriteMany"]}
    )
    assert objects(values).deployment["spec"]["replicas"] == 3


# -- scheduling and pod metadata ---------------------------------------------------------------


def test_scheduling_keys_are_passed_through_to_the_pod(objects):
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "gpu", "operator": "In", "values": ["a100", "h100"]}
                        ]
                    }
                ]
            }
        }
    }
    tolerations = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    values = with_hf(
        nodeSelector={"pool": "a100"},
        affinity=affinity,
        tolerations=tolerations,
        priorityClassName="inference",
    )
    pod = objects(values).pod
    assert pod["nodeSelector"] == {"pool": "a100"}
    assert pod["affinity"] == affinity
    assert pod["tolerations"] == tolerations
    assert pod["priorityClassName"] == "inference"


def test_pod_annotations_and_labels_reach_the_pod_template(objects):
    values = with_hf(podAnnotations={"team": "search"}, podLabels={"cost-center": "ml"})
    template = objects(values).deployment["spec"]["template"]["metadata"]
    assert template["annotations"] == {"team": "search"}
    assert template["labels"]["cost-center"] == "ml"


def test_selector_labels_hold_only_name_and_instance(objects):
    deployment = objects(with_hf(), release="qwen").deployment
    assert deployment["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "modelservice",
        "app.kubernetes.io/instance": "qwen",
    }
    assert deployment["metadata"]["labels"]["helm.sh/chart"] == "modelservice-0.1.0"


def test_the_pod_template_carries_only_the_selector_labels_and_podlabels(objects):
    values = with_hf(podLabels={"cost-center": "ml"})
    deployment = objects(values, release="qwen").deployment
    assert deployment["spec"]["template"]["metadata"]["labels"] == {
        "app.kubernetes.io/name": "modelservice",
        "app.kubernetes.io/instance": "qwen",
        "cost-center": "ml",
    }
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "v0.33.0"


def test_a_chart_upgrade_that_changes_nothing_in_the_pod_leaves_the_pod_template_as_it_was(
    tmp_path,
):
    """A pod-template change is a rollout: every GPU pod restarts and reloads its model. A new
    chart version (and appVersion: the image tag is pinned in values.yaml) must not be one."""
    newer = tmp_path / "modelservice"
    shutil.copytree(CHART, newer)
    chart_yaml = yaml.safe_load((newer / "Chart.yaml").read_text())
    chart_yaml.update(version="0.2.0", appVersion="v0.34.0", description="A newer chart.")
    (newer / "Chart.yaml").write_text(yaml.safe_dump(chart_yaml))
    values = with_hf(podLabels={"team": "search"}, auth={"apiKey": {"create": True}})
    old = Objects(render(CHART, values, release="qwen")).deployment
    new = Objects(render(newer, values, release="qwen")).deployment
    assert old["metadata"]["labels"] != new["metadata"]["labels"]  # the bump is visible
    assert old["spec"]["template"] == new["spec"]["template"]
    assert old["spec"]["selector"] == new["spec"]["selector"]


def test_the_pod_runs_without_a_service_account_token_and_with_runtime_default_seccomp(objects):
    rendered = objects(with_hf())
    assert rendered.pod["automountServiceAccountToken"] is False
    assert rendered.pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in (rendered.server, rendered.download):
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_creates_a_service_account_when_asked(objects):
    rendered = objects(with_hf(serviceAccount={"create": True}), release="qwen")
    account = rendered.one("ServiceAccount")
    assert account["metadata"]["name"] == "qwen-modelservice"
    assert account["automountServiceAccountToken"] is False
    assert rendered.pod["serviceAccountName"] == "qwen-modelservice"


# -- probes ------------------------------------------------------------------------------------


def test_probes_check_health_on_the_http_port(objects):
    server = objects(with_hf()).server
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"] == {"path": "/health", "port": "http"}
    startup = server["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1800


def test_a_disabled_probe_is_not_rendered(objects):
    server = objects(with_hf(probes={"liveness": {"enabled": False}})).server
    assert "livenessProbe" not in server
    assert "readinessProbe" in server


def test_a_readiness_probe_may_ask_for_several_successes(objects):
    server = objects(with_hf(probes={"readiness": {"successThreshold": 3}})).server
    assert server["readinessProbe"]["successThreshold"] == 3


@pytest.mark.parametrize("probe", ["startup", "liveness"])
def test_the_schema_refuses_a_success_threshold_other_than_1_on_restarting_probes(probe):
    """Kubernetes refuses it; Helm's own schema check says so before anything is sent."""
    with pytest.raises(EngineError, match=f"probes/{probe}/successThreshold"):
        render(CHART, with_hf(probes={probe: {"successThreshold": 2}}), release="x")


@pytest.mark.parametrize("probe", ["startupProbe", "livenessProbe"])
def test_startup_and_liveness_probes_render_success_threshold_1_even_without_the_schema(
    tmp_path, probe
):
    """With the schema out of the way (`helm install --skip-schema-validation`), the template
    still never renders another value there."""
    chart = tmp_path / "modelservice"
    shutil.copytree(CHART, chart)
    (chart / "values.schema.json").unlink()
    given = with_hf(
        probes={name: {"successThreshold": 5} for name in ("startup", "liveness", "readiness")}
    )
    server = Objects(render(chart, given, release="x")).server
    assert server[probe]["successThreshold"] == 1
    assert server["readinessProbe"]["successThreshold"] == 5


def test_probe_timings_are_configurable(objects):
    server = objects(with_hf(probes={"startup": {"failureThreshold": 360}})).server
    assert server["startupProbe"]["failureThreshold"] == 360


# -- service -----------------------------------------------------------------------------------


def test_the_service_exposes_port_http_to_the_pods(objects):
    service = objects(with_hf(), release="qwen").one("Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": "modelservice",
        "app.kubernetes.io/instance": "qwen",
    }


def test_service_type_port_and_node_port_are_configurable(objects):
    values = with_hf(service={"type": "NodePort", "port": 80, "nodePort": 30080})
    port = objects(values).one("Service")["spec"]["ports"][0]
    assert port["port"] == 80
    assert port["nodePort"] == 30080


# -- failing early -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {},
            r"modelservice: model\.name: model\.source huggingface needs model\.name, .* "
            r"\[model-name-required\]",
        ),
        (
            {"model": {"source": "modelscope"}},
            r"modelservice: model\.name: model\.source modelscope needs model\.name",
        ),
        (
            {"model": {"source": "local"}},
            r"modelservice: model\.path: model\.source local needs model\.path, .* "
            r"\[model-path-required\]",
        ),
    ],
)
def test_the_chart_fails_early_with_the_key_to_set_and_the_rule(values, message):
    from conftest import render_values
    from modelservice.core.errors import EngineError

    with pytest.raises(EngineError, match=message):
        render_values(values)


# -- what the kubelet adds (found by tools/run-release, tests/test_run_release.py) ---------------


def _pod_specs(rendered_objects):
    """Every pod spec the chart renders: workloads' templates (a LeaderWorkerSet's leader and
    worker) and bare pods (the helm test)."""
    for obj in rendered_objects:
        spec = obj.get("spec") or {}
        if obj["kind"] == "Pod":
            yield obj["metadata"]["name"], spec
        elif obj["kind"] in ("Deployment", "StatefulSet"):
            yield obj["metadata"]["name"], spec["template"]["spec"]
        elif obj["kind"] == "LeaderWorkerSet":
            for role in ("leaderTemplate", "workerTemplate"):
                yield (
                    f"{obj['metadata']['name']}/{role}",
                    spec["leaderWorkerTemplate"][role]["spec"],
                )


@pytest.mark.parametrize(
    "extra",
    [
        {"fullnameOverride": "vllm"},
        {"persistence": {"perPod": True}},
        {
            "gpu": {"count": 8},
            "engine": {"tensorParallelSize": 8, "args": ["--pipeline-parallel-size=2"]},
            "multiNode": {"enabled": True, "nodes": 2},
            "persistence": {"perPod": True},
        },
    ],
    ids=["deployment", "statefulset", "leaderworkerset"],
)
def test_no_pod_the_chart_renders_gets_service_links(objects, extra):
    """With service links a Service named `vllm` (fullnameOverride: vllm, or another release)
    becomes VLLM_PORT=tcp://IP:PORT in the server's environment, and vLLM exits on it."""
    specs = dict(_pod_specs(objects(with_hf(**extra)).all))
    assert len(specs) >= 2, specs.keys()
    assert {name: spec.get("enableServiceLinks") for name, spec in specs.items()} == {
        name: False for name in specs
    }


def test_the_download_container_never_asks_the_hub_for_a_newer_hf(objects):
    init = objects(with_hf()).download
    env = {e["name"]: e.get("value") for e in init["env"]}
    assert env["HF_HUB_DISABLE_UPDATE_CHECK"] == "1"
