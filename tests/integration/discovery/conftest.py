"""Real ZooKeeper servers and the fake Consul / Primus processes, all on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import os
import sys

import pytest
from kazoo.client import KazooClient

from discovery import ZKConfig
from tests.fakes import start_fake
from tests.integration.discovery.helpers import fast_zk_config
from tests.zk_server import ZooKeeperServer, zookeeper_classpath


def _need_zookeeper() -> None:
    if zookeeper_classpath() is None:
        message = "ZooKeeper not installed (apt-get install zookeeper)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _stop(server: ZooKeeperServer, request) -> None:
    server.stop()
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        sys.stderr.write(f"\n--- zookeeper {server.address} (pid {server.pid}) ---\n")
        sys.stderr.write(server.log()[-20000:])


@pytest.fixture(scope="session")
def zk_server(tmp_path_factory, request):
    """One ZooKeeper for the session; tests keep apart by job name."""
    _need_zookeeper()
    server = ZooKeeperServer(tmp_path_factory.mktemp("zk"))
    server.start()
    yield server
    _stop(server, request)


@pytest.fixture
def own_zk_server(tmp_path, request):
    """A ZooKeeper this test may stop, restart or wipe."""
    _need_zookeeper()
    server = ZooKeeperServer(tmp_path / "zk")
    server.start()
    yield server
    _stop(server, request)


@pytest.fixture
def zk_config(zk_server) -> ZKConfig:
    return fast_zk_config(zk_server)


@pytest.fixture
def zk_client(zk_server):
    """A plain kazoo client for looking at (and tampering with) the server directly."""
    client = KazooClient(hosts=zk_server.address, timeout=2.0)
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def consul_agent(tmp_path, request):
    """The fake Consul agent process; ``.address`` is its 127.0.0.1:port."""
    server = start_fake("consul_server", tmp_path / "consul")
    yield server
    server.stop()
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        sys.stderr.write(f"\n--- fake consul (pid {server.pid}) ---\n{server.log()[-20000:]}")
