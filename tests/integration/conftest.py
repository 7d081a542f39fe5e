"""Fixtures that run real PS processes on loopback and always stop them by PID."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.integration.launching import launch  # noqa: F401  (a fixture for every module)
from tests.procs import ServerProcess, start_ps


def write_tables(path: Path, tables: list[dict], dense_optimizer: dict | None = None) -> Path:
    body = {"tables": tables}
    if dense_optimizer is not None:
        body["dense_optimizer"] = dense_optimizer
    path.write_text(json.dumps(body))
    return path


@pytest.fixture
def ps_factory(tmp_path, request):
    """Starts PS processes: ``ps_factory(tables, num_shards=N)`` -> list of ServerProcess."""
    started: list[ServerProcess] = []

    def factory(tables: list[dict], *, num_shards: int = 1, dense_optimizer: dict | None = None,
                metrics: bool = False, extra: list[str] = (), env: dict | None = None):
        path = write_tables(tmp_path / f"tables-{len(started)}.json", tables, dense_optimizer)
        servers = []
        for shard in range(num_shards):
            server = start_ps(tmp_path, path, shard=shard, num_shards=num_shards,
                              metrics=metrics, extra=list(extra), env=env)
            started.append(server)
            servers.append(server)
        return servers

    yield factory
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    for server in started:
        server.stop()
        if failed:
            sys.stderr.write(f"\n--- log of {server.address} (pid {server.pid}) ---\n")
            sys.stderr.write(server.log()[-20000:])


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
