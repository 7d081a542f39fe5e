"""The Primus AppMaster client against a real gRPC server process (the fake AppMaster)."""

from __future__ import annotations

import json

import pytest

from discovery import (
    PrimusClient,
    PrimusConfig,
    create_primus_save_point,
    maybe_finish_application,
    maybe_kill_application,
)
from tests.fakes import start_fake
from tests.procs import free_port


@pytest.fixture
def app_master(tmp_path):
    """Starts fake AppMasters; yields ``start(*args) -> (environ, requests_log)``."""
    started = []

    def start(*args: str):
        log = tmp_path / f"requests-{len(started)}.jsonl"
        server = start_fake("primus_am", tmp_path / f"am-{len(started)}",
                            ["--requests-log", str(log), *args])
        started.append(server)
        host, port = server.address.rsplit(":", 1)
        return {"PRIMUS_AM_RPC_HOST": host, "PRIMUS_AM_RPC_PORT": port}, log

    yield start
    for server in started:
        server.stop()


def _requests(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_kill(app_master):
    environ, log = app_master()
    assert maybe_kill_application("worker 3 failed: disk full", environ) is True
    assert _requests(log) == [{"method": "kill", "request": {
        "exit_code": 1, "diagnose": "worker 3 failed: disk full",
        "graceful_shutdown_timeout_ms": 20000}}]


def test_finish(app_master):
    environ, log = app_master()
    assert maybe_finish_application(environ) is True
    assert _requests(log) == [{"method": "succeed",
                               "request": {"graceful_shutdown_timeout_ms": 20000}}]


def test_save_primus(app_master):
    environ, log = app_master()
    assert create_primus_save_point("hdfs://ckpt/sp1", environ) is True
    assert [r["method"] for r in _requests(log)] == ["createSavepoint", "createSavepointStatus"]
    assert _requests(log)[0]["request"] == {"savepoint_dir": "hdfs://ckpt/sp1"}
    assert _requests(log)[1]["request"] == {"savepoint_id": "sp-1"}


def test_savepoint_polls_until_it_settles(app_master):
    environ, _ = app_master("--savepoint-states", "PENDING,RUNNING,RUNNING,SUCCEEDED")
    fast = PrimusConfig(PrimusConfig.from_env(environ).am_addr, savepoint_poll_interval_s=0.01)
    with PrimusClient(fast) as client:
        assert client.create_savepoint("/ckpt") is True


def test_savepoint_failed_state(app_master):
    environ, _ = app_master("--savepoint-states", "RUNNING,FAILED")
    fast = PrimusConfig(PrimusConfig.from_env(environ).am_addr, savepoint_poll_interval_s=0.01)
    with PrimusClient(fast) as client:
        assert client.create_savepoint("/ckpt") is False


def test_savepoint_refused(app_master):
    environ, _ = app_master("--savepoint-code", "3")
    assert create_primus_save_point("/ckpt", environ) is False


def test_outside_primus_nothing_happens():
    assert maybe_kill_application("reason", {}) is False
    assert maybe_finish_application({}) is None
    assert create_primus_save_point("/ckpt", {}) is None


def test_unreachable_app_master_is_a_failure_not_an_exception():
    config = PrimusConfig(f"127.0.0.1:{free_port()}", rpc_timeout_s=2.0)
    with PrimusClient(config) as client:
        assert client.kill("x") is False
        assert client.succeed() is False
        assert client.create_savepoint("/ckpt") is False
