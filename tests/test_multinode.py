"""Multi-node serving: one model replica over a LeaderWorkerSet group of pods.

Rendered by the real Helm engine; the pod templates are checked against Kubernetes' own
schemas as Pods, every object goes to the real API server (with the LeaderWorkerSet CRD of
lws v0.8.0) for a strict dry run, and every leader and worker command line is parsed by vLLM
0.33.0's own parser, after the expansion of $(VAR) that the kubelet does.
"""

from __future__ import annotations

import copy
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from vllm_env import kubelet_expanded, run_vllm, vllm_argv
from vllm_env import server_container as server

from conftest import CHART, EXAMPLES, ROOT, render_values, strict_errors
from conftest import render_notes as notes
from modelservice.helm.engine import release_name_for, render
from modelservice.validate import validate_file

DEEPSEEK = "deepseek-ai/DeepSeek-R1"
FLAGS = json.loads((ROOT / "schemas" / "vllm" / "0.33.0.json").read_text(encoding="utf-8"))["flags"]
LWS = "leaderworkerset.x-k8s.io/v1"


def group_values(**extra: Any) -> dict[str, Any]:
    """Two 8-GPU pods, TP 8 x PP 2, a claim per pod that holds the model; top-level keys of
    ``extra`` replace."""
    base: dict[str, Any] = {
        "model": {"name": DEEPSEEK},
        "gpu": {"count": 8},
        "engine": {"tensorParallelSize": 8, "args": ["--pipeline-parallel-size=2"]},
        "multiNode": {"enabled": True, "nodes": 2},
        "persistence": {"perPod": True, "size": "690Gi"},
    }
    base.update(extra)
    return base


def objects_of(given: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    return render_values(given, **kwargs).objects()


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, (kind, [o["kind"] for o in objects])
    return found[0]


def pods(lws: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The leader's and the worker's pod templates."""
    template = lws["spec"]["leaderWorkerTemplate"]
    return template["leaderTemplate"], template["workerTemplate"]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def as_pod(template: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **template.get("metadata", {})},
        "spec": template["spec"],
    }


# -- the workload -------------------------------------------------------------------------------


def test_multi_node_renders_a_leaderworkerset_instead_of_the_deployment():
    kinds = [o["kind"] for o in objects_of(group_values())]
    assert "LeaderWorkerSet" in kinds
    assert "Deployment" not in kinds


def test_a_group_has_multinode_nodes_pods_restarts_as_a_whole_and_replicacount_counts_groups():
    lws = one(
        objects_of(group_values(replicaCount=3, multiNode={"enabled": True, "nodes": 4})),
        "LeaderWorkerSet",
    )
    assert lws["apiVersion"] == LWS
    assert lws["spec"]["replicas"] == 3
    assert lws["spec"]["leaderWorkerTemplate"]["size"] == 4
    assert lws["spec"]["leaderWorkerTemplate"]["restartPolicy"] == "RecreateGroupOnPodRestart"
    assert lws["spec"]["startupPolicy"] == "LeaderCreated"


def test_the_leader_and_worker_pods_and_the_deployments_pod_come_from_one_template():
    given = group_values(
        nodeSelector={"gpu": "h100"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        priorityClassName="llm",
        podAnnotations={"team": "ml"},
        podLabels={"tier": "gold"},
        extraVolumes=[{"name": "models", "persistentVolumeClaim": {"claimName": "models"}}],
        extraVolumeMounts=[{"name": "models", "mountPath": "/models"}],
        persistence={"accessModes": ["ReadWriteMany"]},
    )
    leader, worker = pods(one(objects_of(given), "LeaderWorkerSet"))
    single = dict(given, multiNode={"enabled": False})
    deployment = one(objects_of(single), "Deployment")["spec"]["template"]

    def without_role_parts(template: dict[str, Any]) -> dict[str, Any]:
        template = copy.deepcopy(template)
        vllm = server(template)
        for key in ("command", "args", "ports", "startupProbe", "readinessProbe", "livenessProbe"):
            vllm.pop(key, None)
        return template

    assert without_role_parts(leader) == without_role_parts(worker)
    assert without_role_parts(leader) == without_role_parts(deployment)
    # the leader serves like the Deployment's pod does: same probes and port
    for key in ("ports", "startupProbe", "readinessProbe", "livenessProbe"):
        assert server(leader)[key] == server(deployment)[key]
    # scheduling keys reach every pod of the group
    for pod in (leader, worker):
        assert pod["spec"]["nodeSelector"] == {"gpu": "h100"}
        assert pod["spec"]["priorityClassName"] == "llm"
        assert pod["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_the_worker_serves_no_api_so_it_has_no_port_and_no_probe():
    _, worker = pods(one(objects_of(group_values()), "LeaderWorkerSet"))
    assert not {"ports", "startupProbe", "readinessProbe", "livenessProbe"} & set(server(worker))


def test_every_pod_of_a_group_gets_the_gpus_dev_shm_and_downloads_the_model_into_its_cache():
    for pod in pods(one(objects_of(group_values()), "LeaderWorkerSet")):
        assert server(pod)["resources"]["limits"]["nvidia.com/gpu"] == "8"
        mounts = {m["mountPath"]: m["name"] for m in server(pod)["volumeMounts"]}
        assert mounts == {"/root/.cache": "cache", "/dev/shm": "dshm"}
        dshm = next(v for v in pod["spec"]["volumes"] if v["name"] == "dshm")
        assert dshm["emptyDir"]["medium"] == "Memory"
        [download] = pod["spec"]["initContainers"]
        assert download["args"][:3] == ["hf", "download", DEEPSEEK]
        assert {"name": "cache", "mountPath": "/root/.cache"} in download["volumeMounts"]


def test_the_mp_backend_spans_the_nodes_with_nnodes_node_rank_and_the_leaders_address():
    leader, worker = pods(one(objects_of(group_values()), "LeaderWorkerSet"))
    for pod in (leader, worker):
        assert server(pod)["command"] == ["vllm", "serve"]
        args = server(pod)["args"]
        at = args.index("--nnodes")
        assert args[at : at + 8] == [
            "--nnodes",
            "2",
            "--node-rank",
            "$(LWS_WORKER_INDEX)",
            "--master-addr",
            "$(LWS_LEADER_ADDRESS)",
            "--master-port",
            "29501",
        ]
        assert args[-1] == "--pipeline-parallel-size=2"  # engine.args stay last
    assert "--headless" not in server(leader)["args"]
    assert "--headless" in server(worker)["args"]


def test_the_ray_backend_starts_a_head_on_the_leader_that_the_worker_joins():
    given = group_values(multiNode={"enabled": True, "backend": "ray", "ray": {"port": 6380}})
    leader, worker = pods(one(objects_of(given), "LeaderWorkerSet"))
    command = server(leader)["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    assert "ray start --head --port=6380" in command[2]
    assert command[-2:] == ["vllm", "serve"]
    args = server(leader)["args"]
    assert args[args.index("--distributed-executor-backend") + 1] == "ray"
    assert "--nnodes" not in args
    assert "args" not in server(worker)
    assert server(worker)["command"][:2] == ["/bin/sh", "-c"]
    assert '--address="$LWS_LEADER_ADDRESS:6380"' in server(worker)["command"][2]


def test_every_flag_the_chart_renders_on_a_leader_or_worker_exists_in_vllm_0_33_0():
    for backend in ("mp", "ray"):
        given = group_values(multiNode={"enabled": True, "backend": backend})
        for pod in pods(one(objects_of(given), "LeaderWorkerSet")):
            for token in server(pod).get("args", [])[1:]:
                if token.startswith("--"):
                    assert token.partition("=")[0] in FLAGS, (backend, token)


def test_the_service_selects_the_leaders_only():
    service = one(objects_of(group_values()), "Service")
    assert service["spec"]["selector"]["leaderworkerset.sigs.k8s.io/worker-index"] == "0"


def test_the_service_of_a_deployment_has_no_leader_selector():
    service = one(objects_of({"model": {"name": DEEPSEEK}}), "Service")
    assert "leaderworkerset.sigs.k8s.io/worker-index" not in service["spec"]["selector"]


def test_a_claim_per_pod_is_a_claim_template_kept_on_uninstall_and_scale_down():
    found = objects_of(group_values())
    assert "PersistentVolumeClaim" not in {o["kind"] for o in found}
    template = one(found, "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
    [claim] = template["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "cache"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "690Gi"
    assert template["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    for pod in pods(one(found, "LeaderWorkerSet")):
        assert "cache" not in {v["name"] for v in pod["spec"]["volumes"]}


def test_per_pod_claims_are_deleted_with_the_release_when_keeponuninstall_is_false():
    given = group_values(persistence={"perPod": True, "keepOnUninstall": False, "size": "1Ti"})
    template = one(objects_of(given), "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
    assert template["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Delete",
        "whenScaled": "Delete",
    }
    assert template["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Ti"


def test_a_shared_readwritemany_cache_is_one_claim_every_pod_mounts():
    found = objects_of(
        group_values(persistence={"existingClaim": "models", "accessModes": ["ReadWriteMany"]})
    )
    for pod in pods(one(found, "LeaderWorkerSet")):
        cache = next(v for v in pod["spec"]["volumes"] if v["name"] == "cache")
        assert cache == {"name": "cache", "persistentVolumeClaim": {"claimName": "models"}}
    assert (
        "volumeClaimTemplates" not in one(found, "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
    )


def test_topologykey_keeps_each_group_in_one_domain_beside_the_users_affinity():
    node = {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["h100"]}]}
            ]
        }
    }
    given = group_values(
        multiNode={"enabled": True, "topologyKey": "example.com/rack"},
        affinity={"nodeAffinity": node},
    )
    for pod in pods(one(objects_of(given), "LeaderWorkerSet")):
        affinity = pod["spec"]["affinity"]
        assert affinity["nodeAffinity"] == node
        [term] = affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "example.com/rack"
        assert term["matchLabelKeys"] == ["leaderworkerset.sigs.k8s.io/group-key"]
        assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "test"


def test_the_socket_interface_reaches_nccl_and_gloo_on_every_pod_of_a_group():
    given = group_values(
        multiNode={"enabled": True, "network": {"socketInterface": "eth1", "ncclDebug": "INFO"}}
    )
    for pod in pods(one(objects_of(given), "LeaderWorkerSet")):
        env = env_of(server(pod))
        assert (env["NCCL_SOCKET_IFNAME"], env["GLOO_SOCKET_IFNAME"]) == ("eth1", "eth1")
        assert env["NCCL_DEBUG"] == "INFO"


def test_the_networkpolicy_admits_the_groups_own_pods_on_every_port():
    given = group_values(networkPolicy={"enabled": True})
    policy = one(objects_of(given), "NetworkPolicy")
    group = [rule for rule in policy["spec"]["ingress"] if "ports" not in rule]
    assert group == [
        {
            "from": [
                {
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/name": "modelservice",
                            "app.kubernetes.io/instance": "test",
                        }
                    }
                }
            ]
        }
    ]


def test_a_pod_disruption_budget_follows_several_groups():
    assert "PodDisruptionBudget" not in {o["kind"] for o in objects_of(group_values())}
    pdb = one(objects_of(group_values(replicaCount=2)), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1


def test_the_leader_and_worker_pod_templates_are_valid_kubernetes_pods():
    for backend in ("mp", "ray"):
        given = group_values(multiNode={"enabled": True, "backend": backend, "topologyKey": "zone"})
        for index, pod in enumerate(pods(one(objects_of(given), "LeaderWorkerSet"))):
            assert strict_errors(as_pod(pod, f"p{index}")) == []


def test_notes_tell_how_to_watch_a_group_come_up():
    text = notes(group_values(), release="r1", namespace="ai")
    assert "kubectl get leaderworkerset r1-modelservice -n ai" in text
    assert "-l leaderworkerset.sigs.k8s.io/name=r1-modelservice" in text
    assert "kubectl logs -f r1-modelservice-0 -c vllm -n ai" in text
    assert "kubectl logs -f r1-modelservice-0-1 -c vllm -n ai" in text
    assert "deploy/" not in text


# -- the real API server ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["mp", "ray"])
def test_a_group_with_every_multi_node_key_passes_the_real_api_servers_dry_run(apiserver, backend):
    given = group_values(
        replicaCount=2,
        multiNode={
            "enabled": True,
            "nodes": 2,
            "backend": backend,
            "topologyKey": "topology.kubernetes.io/zone",
            "network": {"socketInterface": "eth0", "ncclDebug": "WARN"},
        },
        networkPolicy={"enabled": True},
        affinity={
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 1,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"a": "b"}},
                        },
                    }
                ]
            }
        },
    )
    found = objects_of(given, namespace="ai")
    answers = apiserver.dry_run(found, namespace="ai")
    assert {o["kind"]: a for o, a in zip(found, answers, strict=True) if a} == {}


def test_the_api_server_refuses_an_unknown_group_restart_policy_so_the_dry_run_can_fail(apiserver):
    lws = one(objects_of(group_values(), namespace="ai"), "LeaderWorkerSet")
    lws["spec"]["leaderWorkerTemplate"]["restartPolicy"] = "RestartTheWorld"
    [message] = apiserver.dry_run([lws], namespace="ai")
    assert message is not None and "restartPolicy" in message


# -- vLLM's own parser ------------------------------------------------------------------------

#: Parses each argv with the parser `vllm serve` builds (vllm.entrypoints.cli.main builds it
#: the same way), runs the subcommand's own validation, and turns it into AsyncEngineArgs; for
#: each argv prints the engine arguments, or the parser's error.
PARSE = r"""
import contextlib, io, json, sys
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.entrypoints.cli.serve import ServeSubcommand
from vllm.utils.argparse_utils import FlexibleArgumentParser

FIELDS = ("model", "served_model_name", "tensor_parallel_size", "pipeline_parallel_size",
          "data_parallel_size", "nnodes", "node_rank", "master_addr", "master_port",
          "distributed_executor_backend")
out = {}
for name, argv in json.load(sys.stdin).items():
    parser = FlexibleArgumentParser(prog="vllm")
    command = ServeSubcommand()
    command.subparser_init(parser.add_subparsers(required=False, dest="subparser"))
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
        command.validate(args)
        args.model = args.model_tag or args.model
        engine = AsyncEngineArgs.from_cli_args(args)
    except (SystemExit, Exception) as exc:
        out[name] = {"error": (err.getvalue() or repr(exc))[-1500:]}
        continue
    out[name] = {field: getattr(engine, field) for field in FIELDS}
    out[name]["headless"] = args.headless
print(json.dumps(out, default=str))
"""


def group_command_lines() -> dict[str, tuple[list[str], dict[str, Any]]]:
    """Every vLLM command line of the leader and the workers of the examples and of both
    backends, as the kubelet starts it in group 0, with what vLLM must read from it."""
    cases: dict[str, dict[str, Any]] = {
        path.stem: validate_file(path, CHART).values
        for path in sorted(EXAMPLES.glob("*.yaml"))
        if path.name != "helmfile.yaml"
    }
    cases["four-nodes-tp4-pp2-dp2"] = group_values(
        gpu={"count": 4},
        engine={"tensorParallelSize": 4, "args": ["--pipeline-parallel-size", "2", "-dp", "2"]},
        multiNode={"enabled": True, "nodes": 4, "masterPort": 29600},
    )
    lines: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for case, given in cases.items():
        release = release_name_for(f"{case}.yaml")
        found = render(CHART, given, release=release, namespace="ai").objects()
        groups = [o for o in found if o["kind"] == "LeaderWorkerSet"]
        for lws in groups:
            name = lws["metadata"]["name"]
            size = lws["spec"]["leaderWorkerTemplate"]["size"]
            leader_address = f"{name}-0.{name}.ai"
            for index in range(size):
                pod = pods(lws)[0 if index == 0 else 1]
                env = {
                    "LWS_LEADER_ADDRESS": leader_address,
                    "LWS_GROUP_SIZE": str(size),
                    "LWS_WORKER_INDEX": str(index),
                }
                argv = vllm_argv(server(pod), env)
                if argv is not None:
                    expected = {
                        "size": size,
                        "index": index,
                        "leader": leader_address,
                        "gpus": given["gpu"]["count"],
                        "backend": given["multiNode"].get("backend", "mp"),
                    }
                    lines[f"{case}/pod-{index}"] = (argv, expected)
    return lines


@pytest.fixture(scope="module")
def parsed() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    lines = group_command_lines()
    lines["control/unknown-flag"] = (["serve", DEEPSEEK, "--nnodez", "2"], {})
    lines["control/node-rank-not-expanded"] = (
        ["serve", DEEPSEEK, "--node-rank", "$(LWS_WORKER_INDEX)"],
        {},
    )
    answers = run_vllm(PARSE, {name: argv for name, (argv, _) in lines.items()})
    return {name: (answers[name], expected) for name, (_, expected) in lines.items()}


def test_the_examples_and_both_backends_give_command_lines_for_every_pod_of_a_group(parsed):
    names = set(parsed)
    assert {"deepseek-r1-multinode/pod-0", "deepseek-r1-multinode/pod-1"} <= names
    assert "llama-3.1-405b-fp8-ray/pod-0" in names  # the Ray worker runs no vLLM
    assert "llama-3.1-405b-fp8-ray/pod-1" not in names
    assert {f"four-nodes-tp4-pp2-dp2/pod-{i}" for i in range(4)} <= names


def test_every_leader_and_worker_command_line_parses_under_vllms_own_parser(parsed):
    for name, (answer, expected) in parsed.items():
        if name.startswith("control/"):
            continue
        assert "error" not in answer, (name, answer)
        world = (
            answer["tensor_parallel_size"]
            * answer["pipeline_parallel_size"]
            * answer["data_parallel_size"]
        )
        assert world == expected["size"] * expected["gpus"], name
        if expected["backend"] == "ray":
            assert answer["distributed_executor_backend"] == "ray", name
            assert answer["nnodes"] == 1, name
        else:
            assert answer["nnodes"] == expected["size"], name
            assert answer["node_rank"] == expected["index"], name
            assert answer["master_addr"] == expected["leader"], name
            assert answer["headless"] == (expected["index"] > 0), name


def test_vllms_parser_refuses_a_bad_flag_and_an_unexpanded_node_rank(parsed):
    assert "--nnodez" in parsed["control/unknown-flag"][0]["error"]
    assert "invalid int value" in parsed["control/node-rank-not-expanded"][0]["error"]


# -- the Ray scripts, run by a real shell --------------------------------------------------------


def fake_tools(folder: Path, ray_head_up_after: int) -> None:
    """`ray` and `vllm` that log their argv; `ray health-check` fails until called N times."""
    script = {
        "ray": f"""#!/bin/sh
echo "ray $*" >> "$LOG"
if [ "$1" = health-check ]; then
  n=$(grep -c '^ray health-check' "$LOG")
  [ "$n" -gt {ray_head_up_after} ]
fi
""",
        "vllm": """#!/bin/sh
for a in "$@"; do printf 'vllm-arg:%s\\n' "$a" >> "$LOG"; done
""",
        "sleep": "#!/bin/sh\n",
    }
    for name, text in script.items():
        path = folder / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def run_container(container: dict[str, Any], tmp_path: Path, env: dict[str, str]) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake_tools(bin_dir, ray_head_up_after=2)
    log = tmp_path / "log"
    argv = kubelet_expanded([*container["command"], *container.get("args", [])], env)
    full_env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "LOG": str(log), **env}
    subprocess.run(argv, env=full_env, check=True, timeout=60, capture_output=True)
    return log.read_text().splitlines()


def test_the_ray_leader_starts_the_head_then_hands_vllm_its_arguments_untouched(tmp_path):
    odd = "--chat-template={{ 'a b' }} $HOME \"quoted\""
    given = group_values(
        engine={"tensorParallelSize": 8, "args": ["--pipeline-parallel-size=2", odd]},
        multiNode={"enabled": True, "backend": "ray"},
    )
    leader, _ = pods(one(objects_of(given), "LeaderWorkerSet"))
    log = run_container(server(leader), tmp_path, {"LWS_LEADER_ADDRESS": "l.x.ai"})
    assert log[0] == "ray start --head --port=6379 --disable-usage-stats"
    assert [line.removeprefix("vllm-arg:") for line in log[1:]] == [
        "serve",
        *server(leader)["args"],
    ]
    assert log[-1] == f"vllm-arg:{odd}"


def test_the_ray_worker_waits_for_the_head_then_joins_it(tmp_path):
    given = group_values(multiNode={"enabled": True, "backend": "ray"})
    _, worker = pods(one(objects_of(given), "LeaderWorkerSet"))
    log = run_container(server(worker), tmp_path, {"LWS_LEADER_ADDRESS": "l.x.ai"})
    assert log == [
        "ray health-check --address=l.x.ai:6379",
        "ray health-check --address=l.x.ai:6379",
        "ray health-check --address=l.x.ai:6379",
        "ray start --address=l.x.ai:6379 --block --disable-usage-stats",
    ]


# -- validate --------------------------------------------------------------------------------


def test_validate_accepts_the_multi_node_examples_without_a_warning():
    for name in ("deepseek-r1-multinode", "llama-3.1-405b-fp8-ray"):
        assert validate_file(EXAMPLES / f"{name}.yaml", CHART).problems == []


def test_the_group_parallelism_rule_gives_the_fix_in_its_message(tmp_path):
    path = tmp_path / "r1.yaml"
    given = group_values(engine={"tensorParallelSize": 8})
    path.write_text(yaml.safe_dump(given))
    [problem] = validate_file(path, CHART).problems
    assert problem.rule == "multi-node-parallel-mismatch"
    assert problem.pointer == "/engine/tensorParallelSize"
    assert "2 pods x gpu.count 8 = 16" in problem.message
    assert "--pipeline-parallel-size=2 in engine.args" in problem.message


def test_a_long_release_name_leaves_room_for_the_names_leaderworkerset_derives():
    release = "a-very-long-release-name-for-a-reasoning-model-r1"
    given = group_values(
        autoscaling={"enabled": True, "keda": {"serverAddress": "http://p:9090"}},
        persistence={"existingClaim": "models", "accessModes": ["ReadWriteMany"]},
        metrics={"serviceMonitor": {"enabled": True}},
    )
    found = objects_of(given, release=release)
    name = one(found, "LeaderWorkerSet")["metadata"]["name"]
    assert len(name) <= 40 and not name.endswith("-")
    # its worker pods "<name>-<group>-<worker>" stay DNS labels; the autoscaler finds it
    assert len(f"{name}-9999-63") <= 63
    assert one(found, "ScaledObject")["spec"]["scaleTargetRef"]["name"] == name
    assert f"kubectl get leaderworkerset {name} " in notes(given, release=release)
