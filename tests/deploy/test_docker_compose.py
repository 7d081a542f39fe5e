"""``docker compose up`` for real: images build, the cluster trains, checkpoints, stops cleanly.

Runs under ``make test-docker`` (``MONOLITH_PS_DOCKER_TEST=1``) on a private Docker engine
(tests/deploy/engine.py). The base image is built from Debian packages, since no
registry is reachable. An override file puts every service on the host's network
with its own 127.0.0.1 ports; a check refuses to start if any service lacks it.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.deploy.engine import BASE_IMAGE, ROOT, DockerEngine, cache_dir, missing_tools

COMPOSE_FILE = ROOT / "docker" / "docker-compose.yml"
PROJECT = "monolith-ps-test"
MODEL_DIR = "/var/lib/monolith-ps/model"
STEPS_PER_WORKER = json.loads((ROOT / "docker" / "config" / "smoke.json").read_text())["train"]["steps"]
TRAIN_TIMEOUT_S = 600.0

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_LOOPBACK_FLAGS = ("--host", "--metrics-host")
_PORT_FLAGS = ("--port", "--metrics-port")


def loopback_override(compose: dict, base_image: str) -> tuple[dict, dict[str, dict[str, int]]]:
    """An override that puts every service on the host network with its own loopback ports.

    Returns the override and ``{service: {flag: port}}``.
    """
    services, ports = {}, {}
    for name, service in compose["services"].items():
        ports[name] = {}
        command = []
        for arg in service["command"]:
            flag, eq, _value = arg.partition("=")
            if eq and flag in _LOOPBACK_FLAGS:
                arg = f"{flag}=127.0.0.1"
            elif eq and flag in _PORT_FLAGS:
                ports[name][flag] = _free_port()
                arg = f"{flag}={ports[name][flag]}"
            command.append(arg)
        override = {"network_mode": "host", "command": command}
        if "build" in service:
            override["build"] = {"network": "host", "args": {"BASE_IMAGE": base_image}}
        services[name] = override
    return {"services": services}, ports


def check_host_network(config_text: str) -> None:
    """Every service of the merged config runs on the host network, or nothing starts."""
    services = yaml.safe_load(config_text)["services"]
    lacking = sorted(name for name, s in services.items() if s.get("network_mode") != "host")
    if lacking:
        raise AssertionError(f"services not on network_mode: host (would need a bridge): {lacking}")


class Compose:
    """``docker-compose -p PROJECT -f base -f override`` against one engine."""

    def __init__(self, engine: DockerEngine, override: Path, env: dict[str, str]):
        self.engine = engine
        self.argv = ["docker-compose", "--ansi", "never", "-p", PROJECT, "-f", str(COMPOSE_FILE),
                     "-f", str(override)]
        self.env = {**engine.env, **env}

    def run(self, *args: str, check: bool = True, timeout_s: float = 600.0
            ) -> subprocess.CompletedProcess:
        result = subprocess.run([*self.argv, *args], env=self.env, capture_output=True, text=True,
                                timeout=timeout_s, cwd=COMPOSE_FILE.parent)
        if check and result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def container_ids(self, all_states: bool = True) -> list[str]:
        args = ["ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"]
        if all_states:
            args.insert(1, "-a")
        return self.engine.docker(*args).stdout.decode().split()

    def state(self, service: str) -> dict:
        ids = self.run("ps", "-q", service).stdout.split()
        if not ids:
            return {}
        return json.loads(self.engine.docker("inspect", ids[0]).stdout)[0]["State"]

    def exec(self, service: str, *argv: str) -> str:
        return self.run("exec", "-T", service, *argv).stdout


@pytest.fixture(scope="module")
def engine():
    missing = missing_tools()
    if missing:
        pytest.fail(f"install the Debian packages {' '.join(missing)} (.ci/run does)")
    with DockerEngine(cache_dir()) as engine:
        yield engine


def _wait_workers_done(compose: Compose, timeout_s: float) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        states = {w: compose.state(w) for w in ("worker-0", "worker-1")}
        failed = {w: s for w, s in states.items() if s and s["Status"] == "exited" and s["ExitCode"]}
        if failed:
            raise AssertionError(f"workers failed: {failed}")
        if all(s and s["Status"] == "exited" for s in states.values()):
            return states
        if time.monotonic() > deadline:
            raise AssertionError(f"workers not done within {timeout_s:g} s: {states}")
        time.sleep(1.0)


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return reply.read().decode()


def test_compose_cluster_trains_checkpoints_and_stops(engine, tmp_path):
    base = yaml.safe_load(COMPOSE_FILE.read_text())
    override, ports = loopback_override(base, BASE_IMAGE)
    override_path = tmp_path / "loopback.override.yml"
    override_path.write_text(json.dumps(override, indent=2))  # JSON is YAML
    compose = Compose(engine, override_path, {
        "MONOLITH_TRAIN_CONFIG": "smoke", "MONOLITH_SAVE_STEPS": str(STEPS_PER_WORKER // 2),
        "BASE_IMAGE": BASE_IMAGE})
    check_host_network(compose.run("config").stdout)

    engine.ensure_base_image()
    # A fresh model volume every run; the numba cache volume and images are kept.
    compose.run("down", "--remove-orphans")
    engine.docker("volume", "rm", "-f", f"{PROJECT}_model")
    compose.run("build")
    try:
        compose.run("up", "-d")
        states = _wait_workers_done(compose, TRAIN_TIMEOUT_S)
        assert {s["ExitCode"] for s in states.values()} == {0}

        # Metrics of every long-running role are scraped from the host.
        assert "monolith_training" in _scrape(ports["ps-0"]["--metrics-port"])
        assert "# TYPE" in _scrape(ports["controller"]["--metrics-port"])

        result = json.loads(compose.exec("controller", "cat", f"{MODEL_DIR}/result.json"))
        assert result["steps"] == 2 * STEPS_PER_WORKER
        assert 0.5 < result["eval_auc"] <= 1.0

        status = json.loads(compose.exec(
            "controller", "ps-ctl", "--model-dir", MODEL_DIR, "status", "--json"))
        # Every worker reported its last step: the global step is the sum of both runs.
        assert int(status["global_step"]) == 2 * STEPS_PER_WORKER, status
        assert status.get("finished") is True, status

        state_file = compose.exec("controller", "cat", f"{MODEL_DIR}/checkpoint")
        latest = re.search(r'^model_checkpoint_path: "([^"]+)"', state_file, re.M)
        assert latest, state_file
        assert re.fullmatch(r"model\.ckpt-\d+", latest.group(1))
        assert 0 < int(latest.group(1).rpartition("-")[2]) <= 2 * STEPS_PER_WORKER
        assert latest.group(1) in status["last_checkpoint"], status
        listing = compose.exec("controller", "ls", f"{MODEL_DIR}/{latest.group(1)}").split()
        assert listing, f"checkpoint dir {latest.group(1)} is empty"

        # SIGTERM stops every role at once: exit 0, not the kill after the grace period.
        compose.run("stop")
        for service in base["services"]:
            assert compose.state(service)["ExitCode"] == 0, (service, compose.state(service))
    except BaseException:
        logs = compose.run("logs", "--no-color", "--tail", "60", check=False)
        print(logs.stdout[-20000:], logs.stderr[-2000:])
        raise
    finally:
        down = compose.run("down", "--remove-orphans", check=False)
    assert down.returncode == 0, down.stderr
    assert compose.container_ids() == []
    assert engine.docker("ps", "-q").stdout.decode().split() == []
    engine.docker("image", "prune", "--force")  # images replaced by this build; layers stay cached
