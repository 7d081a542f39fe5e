"""Consul discovery through py-consul and real HTTP against the fake agent process."""

from __future__ import annotations

import json
import time

import consul
import pytest
import requests

from discovery import (
    ConsulConfig,
    ConsulServiceDiscovery,
    DiscoveryConfig,
    DiscoveryType,
    create_discovery,
    deregister_all,
)
from tests.integration.discovery.helpers import eventually, fast_consul_config
from tests.procs import free_port


@pytest.fixture
def disc(consul_agent):
    discovery = ConsulServiceDiscovery(fast_consul_config(consul_agent))
    yield discovery
    discovery.close()


def _admin(agent, path: str, body=None) -> None:
    response = requests.put(f"http://{agent.address}/_fake/{path}", data=json.dumps(body or []),
                            timeout=5)
    response.raise_for_status()


def _catalog(agent, consul_id: str = "monolith-job") -> list[dict]:
    host, port = agent.address.rsplit(":", 1)
    _, entries = consul.Consul(host=host, port=int(port)).catalog.service(consul_id)
    return entries


def test_basic(disc):
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("ps", 1, "127.0.0.1:1001")
    assert disc.query("ps") == {0: "127.0.0.1:1000", 1: "127.0.0.1:1001"}
    disc.deregister("ps", 0, "127.0.0.1:1000")
    disc.deregister("ps", 1, "127.0.0.1:1001")
    assert disc.query("ps") == {}


def test_tags_and_service_ids(disc, consul_agent):
    disc.register("worker", 2, "127.0.0.1:2002")
    [entry] = _catalog(consul_agent)
    assert entry["ServiceID"] == "monolith-job-2002"
    assert sorted(entry["ServiceTags"]) == ["index:2", "ip:127.0.0.1", "name:worker"]
    assert (entry["ServiceAddress"], entry["ServicePort"]) == ("127.0.0.1", 2002)


def test_duplicate_registration(disc, consul_agent):
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("ps", 0, "127.0.0.1:2000")
    assert disc.query("ps") == {0: "127.0.0.1:2000"}
    assert [e["ServicePort"] for e in _catalog(consul_agent)] == [2000]


def test_a_second_process_replaces_the_index(consul_agent):
    config = fast_consul_config(consul_agent)
    with ConsulServiceDiscovery(config) as old, ConsulServiceDiscovery(config) as new:
        old.register("ps", 0, "127.0.0.1:1000")
        new.register("ps", 0, "127.0.0.1:1500")
        assert old.query("ps") == {0: "127.0.0.1:1500"}


def test_multi_names(disc):
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("worker", 0, "127.0.0.1:2000")
    disc.register("worker", 1, "127.0.0.1:2001")
    assert disc.query("ps") == {0: "127.0.0.1:1000"}
    assert disc.query("worker") == {0: "127.0.0.1:2000", 1: "127.0.0.1:2001"}
    assert disc.query_all() == {"ps": {0: "127.0.0.1:1000"},
                                "worker": {0: "127.0.0.1:2000", 1: "127.0.0.1:2001"}}


def test_jobs_are_separate_services(consul_agent):
    with ConsulServiceDiscovery(fast_consul_config(consul_agent, "job-a")) as a, \
            ConsulServiceDiscovery(fast_consul_config(consul_agent, "job-b")) as b:
        a.register("ps", 0, "127.0.0.1:1000")
        assert b.query("ps") == {}


def test_retry_rides_over_dropped_connections(disc, consul_agent):
    disc.register("ps", 0, "127.0.0.1:1000")
    _admin(consul_agent, "drop?count=4")
    assert disc.query("ps") == {0: "127.0.0.1:1000"}


def test_retry_gives_up_after_five_tries(disc, consul_agent):
    _admin(consul_agent, "drop?count=5")
    with pytest.raises(requests.ConnectionError):
        disc.query("ps")
    assert disc.query("ps") == {}


def test_unreachable_agent_raises_oserror():
    config = ConsulConfig("monolith-job", host="127.0.0.1", port=free_port(), max_backoff_s=0.01)
    with ConsulServiceDiscovery(config) as disc, pytest.raises(OSError):
        disc.query("ps")


def test_registration_failed_when_blacklisted(disc, consul_agent):
    _admin(consul_agent, "blacklist", ["127.0.0.1:1000"])
    with pytest.raises(OSError, match=r"ps.0 at 127.0.0.1:1000 .* not visible .*blacklisted"):
        disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("ps", 1, "127.0.0.1:1001")
    assert disc.query("ps") == {1: "127.0.0.1:1001"}


def test_heartbeat_keeps_the_ttl_check_passing(consul_agent):
    config = fast_consul_config(consul_agent, check_ttl_s=0.6)
    disc = ConsulServiceDiscovery(config)
    try:
        disc.register("ps", 0, "127.0.0.1:1000")
        time.sleep(1.5)
        assert disc.query("ps") == {0: "127.0.0.1:1000"}
    finally:
        disc.close()
    with ConsulServiceDiscovery(config) as observer:
        assert eventually(lambda: observer.query("ps") == {}, timeout_s=10)
        assert [e["ServicePort"] for e in _catalog(consul_agent)] == [1000]


def test_deregister_all(disc, consul_agent):
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("worker", 0, "127.0.0.1:2000")
    disc.deregister_all()
    assert disc.query_all() == {}
    disc.register("ps", 0, "127.0.0.1:1000")
    deregister_all(fast_consul_config(consul_agent))
    assert _catalog(consul_agent) == []


def test_agent_address_from_environment(consul_agent):
    host, port = consul_agent.address.rsplit(":", 1)
    config = ConsulConfig("monolith-job", retry_time_s=0.05, register_timeout_s=1.0,
                          max_backoff_s=0.01)
    with ConsulServiceDiscovery(config, environ={"CONSUL_HTTP_HOST": host,
                                                 "CONSUL_HTTP_PORT": port}) as disc:
        disc.register("ps", 0, "127.0.0.1:1000")
        assert disc.query("ps") == {0: "127.0.0.1:1000"}


def test_factory_builds_consul(consul_agent):
    config = DiscoveryConfig(type=DiscoveryType.CONSUL, consul=fast_consul_config(consul_agent))
    with create_discovery(config) as disc:
        disc.register("ps", 0, "127.0.0.1:1000")
        assert disc.query("ps") == {0: "127.0.0.1:1000"}


def test_deregister_leaves_a_different_addr_alone(disc):
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.deregister("ps", 0, "127.0.0.2:1000")
    disc.deregister("ps", 1, "127.0.0.1:1000")
    assert disc.query("ps") == {0: "127.0.0.1:1000"}
