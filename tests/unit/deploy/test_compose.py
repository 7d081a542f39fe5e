"""docker/: the compose files validate against the compose spec and agree with the roles' CLIs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.test_docker_compose import check_host_network, loopback_override
from tests.unit.deploy.manifests import DOCKER, role_config

COMPOSE = DOCKER / "docker-compose.yml"
OVERRIDE = DOCKER / "docker-compose.override.yml"
IMAGE_CONFIG_DIR = "/etc/monolith-ps"
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR:-default}`` substitution."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def _services(env: dict[str, str] | None = None) -> dict[str, dict]:
    return yaml.safe_load(_interpolate(COMPOSE.read_text(), env or {}))["services"]


@pytest.mark.parametrize("path", [COMPOSE, OVERRIDE], ids=lambda p: p.name)
def test_compose_file_validates_against_the_compose_spec(path):
    tool = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run([str(tool), "--builtin-schema", "vendor.compose-spec", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_spec_check_rejects_an_unknown_key(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(COMPOSE.read_text().replace("    stop_grace_period: 15s",
                                               "    stop_grace_priod: 15s", 1))
    tool = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run([str(tool), "--builtin-schema", "vendor.compose-spec", str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0


def _roles(env: dict[str, str] | None = None) -> dict[str, tuple[str, object]]:
    out = {}
    for name, service in _services(env).items():
        environment = {k: str(v) for k, v in service.get("environment", {}).items()}
        role, config, _child_env = role_config(list(service["command"]), environment)
        out[name] = (role, config)
    return out


@pytest.mark.parametrize("train_config", ["reference", "smoke"])
def test_every_service_command_parses_with_its_role_cli(train_config):
    roles = _roles({"MONOLITH_TRAIN_CONFIG": train_config})
    by_role: dict[str, list] = {}
    for name, (role, config) in roles.items():
        by_role.setdefault(role, []).append((name, config))
    assert sorted(by_role) == ["controller", "ps", "worker"]
    num_ps, num_workers = len(by_role["ps"]), len(by_role["worker"])
    assert sorted(c.shard for _, c in by_role["ps"]) == list(range(num_ps))
    assert {c.num_shards for _, c in by_role["ps"]} == {num_ps}
    assert sorted(a.index for _, a in by_role["worker"]) == list(range(num_workers))
    assert {(a.num_ps, a.num_workers) for _, a in by_role["worker"]} == {(num_ps, num_workers)}
    (_, controller), = by_role["controller"]
    assert (controller.num_ps, controller.num_workers) == (num_ps, num_workers)
    for _, args in by_role["worker"]:
        assert args.config == Path(IMAGE_CONFIG_DIR) / f"{train_config}.json"


def test_every_role_shares_the_model_dir_and_its_file_discovery():
    services = _services()
    for name, (role, config) in _roles().items():
        model_dir = str(config.model_dir)
        mounts = dict(v.split(":")[1::-1] for v in services[name]["volumes"])
        assert mounts[model_dir] == "model", name
        discovery = config.discovery if role != "worker" else None
        if discovery is not None:
            assert discovery.file.base_dir == model_dir, name
        else:
            assert config.discovery_dir == model_dir, name


def test_files_named_in_commands_ship_in_the_image():
    """Every /etc/monolith-ps path a command names is a file docker/config/ copies there."""
    for env in ({}, {"MONOLITH_TRAIN_CONFIG": "smoke"}):
        for _name, (role, config) in _roles(env).items():
            path = config.config if role == "worker" else config.tables_path
            path = Path(str(path))
            assert path.parent == Path(IMAGE_CONFIG_DIR)
            assert (DOCKER / "config" / path.name).is_file(), path


def test_image_configs_derive_the_shipped_tables():
    from worker.config import TrainConfig

    tables = json.loads((DOCKER / "config" / "tables.json").read_text())
    for name in ("reference", "smoke"):
        config = TrainConfig.load(DOCKER / "config" / f"{name}.json")
        assert config.tables_json() == tables, name
    reference = ROOT_REFERENCE.read_text()
    assert json.loads((DOCKER / "config" / "reference.json").read_text()) == json.loads(reference)
    assert TrainConfig.load(DOCKER / "config" / "smoke.json").train.steps > 0


ROOT_REFERENCE = DOCKER.parent / "worker" / "examples" / "reference.json"


def test_metrics_are_published_on_loopback_for_every_service():
    published = yaml.safe_load(OVERRIDE.read_text())["services"]
    roles = _roles()
    assert set(published) == set(roles)
    host_ports = []
    for name, (_role, config) in roles.items():
        (spec,) = published[name]["ports"]
        host, host_port, container_port = spec.split(":")
        assert host == "127.0.0.1"
        assert int(container_port) == config.metrics_port
        assert config.metrics_host == "0.0.0.0"
        host_ports.append(host_port)
    assert len(set(host_ports)) == len(host_ports)


def test_workers_wait_for_healthy_ps_and_controller():
    services = _services()
    roles = _roles()
    servers = {n for n, (role, _) in roles.items() if role in ("ps", "controller")}
    for name, (role, _config) in roles.items():
        if role == "worker":
            depends = services[name]["depends_on"]
            assert set(depends) == servers
            assert {d["condition"] for d in depends.values()} == {"service_healthy"}


def test_loopback_override_puts_every_service_on_the_host_network_with_its_own_ports():
    base = yaml.safe_load(COMPOSE.read_text())
    override, ports = loopback_override(base, "base:tag")
    check_host_network(json.dumps(override))
    assert set(override["services"]) == set(base["services"])
    chosen = [p for service in ports.values() for p in service.values()]
    assert len(chosen) == len(set(chosen)) and len(chosen) >= len(base["services"])
    for service in override["services"].values():
        hosts = [a.partition("=")[2] for a in service["command"]
                 if a.startswith(("--host=", "--metrics-host="))]
        assert hosts and set(hosts) == {"127.0.0.1"}
    assert override["services"]["controller"]["build"]["args"]["BASE_IMAGE"] == "base:tag"


def test_host_network_check_names_a_service_without_it():
    config = {"services": {"ps-0": {"network_mode": "host"}, "worker-0": {}}}
    with pytest.raises(AssertionError, match="worker-0"):
        check_host_network(json.dumps(config))


def test_dockerfile_builds_on_a_base_arg_runs_non_root_and_checks_health():
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*CMD \[\"monolith-ps-health\"\]", text, re.M)
    assert re.search(r'^ENTRYPOINT \["monolith-ps-entrypoint"\]', text, re.M)
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    for source in re.findall(r"^COPY (\S+)", text, re.M):
        assert f"!{source}" in ignore or f"!{source.rstrip('/')}/" in ignore, source
