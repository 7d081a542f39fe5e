"""ZooKeeper discovery against a real ZooKeeper server (system package), with real faults."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from kazoo.client import KazooClient
from kazoo.handlers.threading import KazooTimeoutError

from discovery import (
    DiscoveryConfig,
    DiscoveryType,
    ZKConfig,
    ZKServiceDiscovery,
    clear_zk_path,
    create_discovery,
)
from discovery.zk_utils import job_path
from tests.integration.discovery.helpers import eventually, fast_zk_config
from tests.procs import free_port


def node(client: KazooClient, config: ZKConfig, child: str):
    """(data, stat) of ``/monolith/<job>/<child>``, or None if it does not exist."""
    path = f"{job_path(config.job_name)}/{child}"
    return client.get(path) if client.exists(path) else None


def node_data(client, config, child) -> bytes | None:
    found = node(client, config, child)
    return found[0] if found else None


@pytest.fixture
def discoveries():
    opened: list[ZKServiceDiscovery] = []

    def open_(config: ZKConfig) -> ZKServiceDiscovery:
        opened.append(ZKServiceDiscovery(config))
        return opened[-1]

    yield open_
    for disc in opened:
        disc.close()


def expire_session(server_address: str, disc: ZKServiceDiscovery) -> int:
    """Ends ``disc``'s session on the server (ZooKeeper expires it): returns the old session id.

    A second client joins the same session with its id and password and closes
    it, the standard way to force a real expiry.
    """
    session_id, password = disc._client.client_id
    intruder = KazooClient(hosts=server_address, client_id=(session_id, password), timeout=2.0)
    intruder.start(timeout=10)
    intruder.stop()
    intruder.close()
    return session_id


def test_basic(discoveries, zk_config, zk_client):
    disc = discoveries(zk_config)
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("ps", 1, "127.0.0.1:1001")
    assert disc.query("ps") == {0: "127.0.0.1:1000", 1: "127.0.0.1:1001"}
    data, stat = node(zk_client, zk_config, "ps.1")
    assert data == b"127.0.0.1:1001"
    assert stat.ephemeralOwner != 0
    disc.deregister("ps", 0, "127.0.0.1:1000")
    disc.deregister("ps", 1, "127.0.0.1:1001")
    assert disc.query("ps") == {}
    assert zk_client.get_children(job_path(zk_config.job_name)) == []


def test_duplicate_registration(discoveries, zk_config, zk_client):
    disc = discoveries(zk_config)
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("ps", 0, "127.0.0.1:2000")
    assert disc.query("ps") == {0: "127.0.0.1:2000"}
    assert node_data(zk_client, zk_config, "ps.0") == b"127.0.0.1:2000"
    disc.deregister("ps", 0, "127.0.0.1:1000")
    assert node_data(zk_client, zk_config, "ps.0") == b"127.0.0.1:2000"


def test_multi_names(discoveries, zk_config):
    disc = discoveries(zk_config)
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("worker", 0, "127.0.0.1:2000")
    disc.register("worker", 1, "[::1]:2001")
    assert disc.query("ps") == {0: "127.0.0.1:1000"}
    assert disc.query("worker") == {0: "127.0.0.1:2000", 1: "[::1]:2001"}
    assert disc.query("controller") == {}


def test_instances_see_each_other_through_watches(discoveries, zk_config):
    ps, worker = discoveries(zk_config), discoveries(zk_config)
    ps.register("ps", 0, "127.0.0.1:1000")
    worker.register("worker", 0, "127.0.0.1:2000")
    assert eventually(lambda: ps.query("worker") == {0: "127.0.0.1:2000"})
    assert eventually(lambda: worker.query("ps") == {0: "127.0.0.1:1000"})
    worker.register("worker", 0, "127.0.0.1:2001")
    assert eventually(lambda: ps.query("worker") == {0: "127.0.0.1:2001"})
    worker.close()
    assert eventually(lambda: ps.query("worker") == {})


def test_a_later_instance_loads_existing_registrations(discoveries, zk_config):
    discoveries(zk_config).register("ps", 3, "127.0.0.1:1003")
    assert discoveries(zk_config).query("ps") == {3: "127.0.0.1:1003"}


def test_periodic_registration_repairs_data_and_missing_nodes(discoveries, zk_server, zk_client):
    config = fast_zk_config(zk_server, registration_period_s=0.2)
    disc = discoveries(config)
    disc.register("ps", 0, "127.0.0.1:1000")
    path = f"{job_path(config.job_name)}/ps.0"
    zk_client.set(path, b"corrupted")
    assert eventually(lambda: node_data(zk_client, config, "ps.0") == b"127.0.0.1:1000")
    zk_client.delete(path)
    assert eventually(lambda: node_data(zk_client, config, "ps.0") == b"127.0.0.1:1000")
    assert disc.query("ps") == {0: "127.0.0.1:1000"}


def test_register_takes_over_a_stale_node_of_another_session(discoveries, zk_config, zk_client):
    path = f"{job_path(zk_config.job_name)}/ps.0"
    zk_client.create(path, b"127.0.0.1:999", ephemeral=True, makepath=True)
    disc = discoveries(zk_config)
    assert disc.query("ps") == {0: "127.0.0.1:999"}
    disc.register("ps", 0, "127.0.0.1:1000")
    data, stat = node(zk_client, zk_config, "ps.0")
    assert data == b"127.0.0.1:1000"
    assert stat.ephemeralOwner not in (0, zk_client.client_id[0])


def test_listener_reregisters_after_session_expiry(discoveries, zk_server, zk_config, zk_client):
    disc = discoveries(zk_config)
    disc.register("ps", 0, "127.0.0.1:1000")
    old_session = expire_session(zk_server.address, disc)

    def back_with_new_session():
        found = node(zk_client, zk_config, "ps.0")
        return found and found[0] == b"127.0.0.1:1000" and found[1].ephemeralOwner != old_session

    assert eventually(back_with_new_session)
    assert disc.query("ps") == {0: "127.0.0.1:1000"}


def test_registrations_survive_a_server_restart(own_zk_server, discoveries):
    config = fast_zk_config(own_zk_server)
    ps, worker = discoveries(config), discoveries(config)
    ps.register("ps", 0, "127.0.0.1:1000")
    worker.register("worker", 0, "127.0.0.1:2000")
    own_zk_server.restart()
    ps.register("ps", 1, "127.0.0.1:1001")
    assert eventually(lambda: worker.query("ps") == {0: "127.0.0.1:1000", 1: "127.0.0.1:1001"})
    assert ps.query("worker") == {0: "127.0.0.1:2000"}


def test_registrations_come_back_after_session_loss(own_zk_server, discoveries):
    """ZooKeeper goes away long enough for the sessions to expire, then comes back."""
    config = fast_zk_config(own_zk_server)
    ps, worker = discoveries(config), discoveries(config)
    ps.register("ps", 0, "127.0.0.1:1000")
    worker.register("worker", 0, "127.0.0.1:2000")
    assert eventually(lambda: ps.query("worker") == {0: "127.0.0.1:2000"})
    probe = KazooClient(hosts=own_zk_server.address, timeout=2.0)
    probe.start(timeout=10)
    try:
        old_owners = {node(probe, config, c)[1].ephemeralOwner for c in ("ps.0", "worker.0")}
        probe.stop()
        own_zk_server.restart_after_sessions_expire()
        probe.start(timeout=10)

        def reregistered():
            found = [node(probe, config, c) for c in ("ps.0", "worker.0")]
            return all(found) and [f[0] for f in found] == [b"127.0.0.1:1000", b"127.0.0.1:2000"] \
                and not {f[1].ephemeralOwner for f in found} & old_owners

        assert eventually(reregistered)
    finally:
        probe.stop()
        probe.close()
    assert eventually(lambda: ps.query("worker") == {0: "127.0.0.1:2000"})
    assert eventually(lambda: worker.query("ps") == {0: "127.0.0.1:1000"})


def test_clear_zk_path_removes_stale_jobs_only(own_zk_server, discoveries):
    config = fast_zk_config(own_zk_server, job_name="current")
    client = KazooClient(hosts=own_zk_server.address, timeout=2.0)
    client.start(timeout=10)
    try:
        client.create(f"{job_path('finished')}/ps.0", b"127.0.0.1:1", makepath=True)
        discoveries(fast_zk_config(own_zk_server, job_name="running")).register(
            "ps", 0, "127.0.0.1:2")
        clear_zk_path(config)
        assert sorted(client.get_children("/monolith")) == ["finished", "running"]
        ten_weeks_on = time.time() + 10 * 7 * 24 * 3600
        clear_zk_path(config, now_s=ten_weeks_on)
        assert client.get_children("/monolith") == ["running"]
    finally:
        client.stop()
        client.close()


def test_clear_zk_path_guards_the_current_job(own_zk_server, discoveries):
    config = fast_zk_config(own_zk_server, job_name="current")
    disc = discoveries(config)
    disc.register("ps", 0, "127.0.0.1:1")
    disc.register("worker", 0, "127.0.0.1:2")
    with pytest.raises(ValueError, match=r"there are \['ps.0', 'worker.0'\] in monolith zk path"):
        clear_zk_path(config)
    disc.close()
    clear_zk_path(config)
    clear_zk_path(config, force_clear=True)
    client = KazooClient(hosts=own_zk_server.address, timeout=2.0)
    client.start(timeout=10)
    try:
        assert client.exists(job_path("current")) is None
    finally:
        client.stop()
        client.close()


def test_unreachable_ensemble_times_out():
    config = ZKConfig(job_name="job", servers=f"127.0.0.1:{free_port()}", connect_timeout_s=0.5,
                      delay_s=0.1)
    with pytest.raises(KazooTimeoutError):
        ZKServiceDiscovery(config)


def test_factory_builds_zk(zk_config):
    with create_discovery(DiscoveryConfig(type=DiscoveryType.ZK, zk=zk_config)) as disc:
        assert isinstance(disc, ZKServiceDiscovery)
        disc.register("ps", 0, "127.0.0.1:1000")
        assert disc.query("ps") == {0: "127.0.0.1:1000"}


def test_usable_from_an_event_loop_through_a_thread_pool(discoveries, zk_config):
    disc = discoveries(zk_config)

    async def serve() -> dict[int, str]:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=4) as pool:
            await asyncio.gather(*(
                loop.run_in_executor(pool, disc.register, "ps", i, f"127.0.0.1:{1000 + i}")
                for i in range(8)))
            return await loop.run_in_executor(pool, disc.query, "ps")

    assert asyncio.run(serve()) == {i: f"127.0.0.1:{1000 + i}" for i in range(8)}


def test_job_names_keep_jobs_apart(discoveries, zk_server):
    a = discoveries(fast_zk_config(zk_server, job_name=f"a-{uuid.uuid4().hex[:6]}"))
    b = discoveries(fast_zk_config(zk_server, job_name=f"b-{uuid.uuid4().hex[:6]}"))
    a.register("ps", 0, "127.0.0.1:1000")
    assert b.query("ps") == {}
