"""Kubernetes manifests: valid against the API schemas, and consistent with what the code reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit.deploy.manifests import (
    DEPLOY,
    DOCKER,
    LIBRARY_ENV,
    by_kind,
    code_reads_env,
    containers,
    load_documents,
    render,
    role_config,
)

KUSTOMIZATIONS = [DEPLOY / "base", DEPLOY / "overlays" / "small"]
BASE_FILES = sorted((DEPLOY / "base").glob("*.yaml"))


def _validate(paths: list[Path]) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).parent / "kubernetes-validate"
    return subprocess.run([str(tool), "--strict", "--no-warn", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def test_every_base_manifest_validates_strictly():
    resources = [p for p in BASE_FILES if p.name != "kustomization.yaml"]
    assert resources
    result = _validate(resources)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_rendered_kustomization_validates_strictly(directory, tmp_path):
    out = tmp_path / "rendered.yaml"
    out.write_text(yaml.safe_dump_all(render(directory)))
    result = _validate([out])
    assert result.returncode == 0, result.stdout + result.stderr


def test_validation_rejects_an_unknown_field(tmp_path):
    """The strict check is live: a misspelt field fails it."""
    doc = load_documents(DEPLOY / "base" / "ps.yaml")[1]
    doc["spec"]["replica"] = 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    assert _validate([bad]).returncode != 0


def test_kustomization_lists_every_base_manifest():
    listed = set(yaml.safe_load((DEPLOY / "base" / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in BASE_FILES} - {"kustomization.yaml"}


@pytest.fixture(params=KUSTOMIZATIONS, ids=lambda p: p.name)
def rendered(request):
    return render(request.param)


def _counts(resources):
    num_ps = by_kind(resources, "StatefulSet")["ps"]["spec"]["replicas"]
    job = by_kind(resources, "Job")["worker"]["spec"]
    assert job["completions"] == job["parallelism"]
    return num_ps, job["completions"]


def test_every_container_command_parses_with_its_role_cli(rendered):
    """Args and env go through the image's entrypoint and the role's own parser, as in the pod."""
    num_ps, num_workers = _counts(rendered)
    roles = {}
    for c in containers(rendered):
        role, config, _env = role_config(list(c.spec["args"]), c.env)
        roles[role] = (c, config)
    assert set(roles) == {"ps", "controller", "worker"}
    ps, ps_config = roles["ps"]
    assert ps_config.num_shards == num_ps
    assert ps_config.host == "0.0.0.0"
    ctl, ctl_config = roles["controller"]
    assert (ctl_config.num_ps, ctl_config.num_workers) == (num_ps, num_workers)
    worker, worker_args = roles["worker"]
    assert (worker_args.num_ps, worker_args.num_workers) == (num_ps, num_workers)
    assert worker_args.discovery == "mlp"


def test_ports_in_manifests_are_the_ports_the_roles_serve(rendered):
    services = by_kind(rendered, "Service")
    for c in containers(rendered):
        role, config, _env = role_config(list(c.spec["args"]), c.env)
        metrics_port = config.metrics_port
        assert c.ports["metrics"] == metrics_port
        assert c.annotations["prometheus.io/port"] == str(metrics_port)
        assert c.annotations["prometheus.io/scrape"] == "true"
        if role == "worker":
            continue
        assert c.ports["grpc"] == config.port
        for probe in ("readinessProbe", "livenessProbe"):
            assert c.spec[probe]["grpc"]["port"] == config.port, (role, probe)
        service = services["ps" if role == "ps" else "controller"]
        by_name = {p["name"]: p for p in service["spec"]["ports"]}
        assert by_name["grpc"]["targetPort"] == "grpc"
        assert by_name["metrics"]["targetPort"] == "metrics"


def test_services_select_their_pods(rendered):
    workloads = {r["metadata"]["name"]: r for r in rendered
                 if r["kind"] in ("StatefulSet", "Deployment", "Job")}
    for name, service in by_kind(rendered, "Service").items():
        labels = workloads[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
        pod_ports = {p["name"] for c in workloads[name]["spec"]["template"]["spec"]["containers"]
                     for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= pod_ports, name
    assert by_kind(rendered, "StatefulSet")["ps"]["spec"]["serviceName"] == "ps"
    assert by_kind(rendered, "Service")["ps"]["spec"]["clusterIP"] == "None"
    assert by_kind(rendered, "Job")["worker"]["spec"]["template"]["spec"]["subdomain"] == "worker"


def test_mlp_layout_names_the_stable_dns_names_and_ports(rendered):
    """MLP discovery, parsed by discovery/mlp.py, points at ps-<i>.ps, controller, worker-<i>.worker."""
    from discovery.mlp import MLPEnv

    num_ps, num_workers = _counts(rendered)
    for c in containers(rendered):
        role, config, env = role_config(list(c.spec["args"]), c.env)
        layout = MLPEnv.from_environ(env)
        assert layout.role == role.upper()
        assert layout.addrs["PS"] == tuple(f"ps-{i}.ps:50051" for i in range(num_ps))
        assert layout.addrs["WORKER"] == tuple(f"worker-{i}.worker:50052" for i in range(num_workers))
        assert layout.addrs["CONTROLLER"] == ("controller:50050",)
        # The port a role registers must be its layout port, or MLP discovery rejects it.
        expected = layout.addrs[layout.role][layout.index].rpartition(":")[2]
        assert env["MLP_PORT"] == expected, role
        if role != "worker":
            assert config.port == int(expected)


def test_pod_indices_come_from_the_ordinal_and_the_completion_index(rendered):
    ps = by_kind(rendered, "StatefulSet")["ps"]["spec"]["template"]["spec"]["containers"][0]
    index = {e["name"]: e for e in ps["env"]}["MLP_ROLE_INDEX"]
    assert index["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['apps.kubernetes.io/pod-index']"
    worker = [c for c in containers(rendered) if c.workload["kind"] == "Job"][0]
    assert "MLP_ROLE_INDEX" not in worker.env
    last = _counts(rendered)[1] - 1
    env = dict(worker.env, JOB_COMPLETION_INDEX=str(last))
    _role, args, _env = role_config(list(worker.spec["args"]), env)
    assert args.index == last


def test_every_env_var_is_one_the_code_reads(rendered):
    names = set()
    for c in containers(rendered):
        names |= set(c.env)
    unread = sorted(n for n in names - LIBRARY_ENV if not code_reads_env(n))
    assert not unread, f"env vars no code reads: {unread}"
    assert not code_reads_env("MLP_NO_SUCH_SETTING")


def test_config_files_and_model_dir_are_mounted_where_the_args_point(rendered):
    config_data = by_kind(rendered, "ConfigMap")["monolith-ps-config"]["data"]
    for c in containers(rendered):
        role, config, _env = role_config(list(c.spec["args"]), c.env)
        files = [config.tables_path] if role in ("ps", "controller") else [config.config]
        for path in map(str, files):
            found = c.mount(path)
            assert found["volume"]["configMap"]["name"] == "monolith-ps-config"
            assert Path(path).name in config_data
        model = c.mount(str(config.model_dir))
        assert model["volume"]["persistentVolumeClaim"]["claimName"] == "monolith-ps-model"


def test_table_config_is_what_the_training_config_derives():
    from worker.config import TrainConfig

    data = by_kind(render(DEPLOY / "base"), "ConfigMap")["monolith-ps-config"]["data"]
    train = json.loads(data["train.json"])
    assert json.loads(data["tables.json"]) == TrainConfig.from_dict(train).tables_json()
    assert train == json.loads((DOCKER / "config" / "reference.json").read_text())
    assert json.loads(data["tables.json"]) == json.loads((DOCKER / "config" / "tables.json").read_text())
