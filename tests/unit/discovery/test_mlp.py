import socket

import pytest

from discovery import MLPServiceDiscovery


@pytest.fixture
def ps_listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environ(ps_ports, role="WORKER", index=0, port=2222):
    env = {"MLP_ROLE": role, "MLP_ROLE_INDEX": str(index), "MLP_PORT": str(port),
           "MLP_PS_NUM": str(len(ps_ports)),
           "MLP_PS_ALL_HOSTS": ",".join("127.0.0.1" for _ in ps_ports),
           "MLP_WORKER_NUM": "2", "MLP_WORKER_ALL_HOSTS": "10.0.0.1,10.0.0.2",
           "MLP_WORKER_0_PORT": "2222", "MLP_WORKER_1_PORT": "2223",
           "MLP_CHIEF_NUM": "0", "MLP_CHIEF_ALL_HOSTS": ""}
    env.update({f"MLP_PS_{i}_PORT": str(p) for i, p in enumerate(ps_ports)})
    return env


def test_query_with_port_check(ps_listener):
    dead = _closed_port()
    disc = MLPServiceDiscovery(_environ([ps_listener, dead]), port_check_timeout_s=0.5)
    assert disc.query("ps") == {0: f"127.0.0.1:{ps_listener}"}
    assert disc.query("ps", skip_port_check=True) == {
        0: f"127.0.0.1:{ps_listener}", 1: f"127.0.0.1:{dead}"}
    assert disc.query("worker") == {0: "10.0.0.1:2222", 1: "10.0.0.2:2223"}
    assert disc.query("chief") == {}
    assert disc.query("dispatcher") == {}


def test_identity_from_env():
    disc = MLPServiceDiscovery(_environ([1000], role="worker", index=1, port=2223))
    assert (disc.server_type, disc.index, disc.port, disc.addr) == (
        "worker", 1, 2223, "10.0.0.2:2223")


def test_filters_hide_deregistered_entries():
    disc = MLPServiceDiscovery(_environ([1000, 1001]))
    disc.deregister("worker", 1, "10.0.0.2:2223")
    assert disc.query("worker") == {0: "10.0.0.1:2222"}
    disc.register("worker", 1, "10.0.0.2:2223")
    assert disc.query("worker") == {0: "10.0.0.1:2222", 1: "10.0.0.2:2223"}
    disc.deregister_all()
    assert disc.query_all() == {"ps": {}, "worker": {}, "chief": {}}


@pytest.mark.parametrize("name, index, addr, match", [
    ("dispatcher", 0, "h:1", "role must be one of"),
    ("worker", 2, "10.0.0.3:2222", r"index of worker must be in \[0, 2\)"),
    ("worker", 0, "10.0.0.1:9999", "must use port 2222"),
])
def test_register_validates_against_layout(name, index, addr, match):
    disc = MLPServiceDiscovery(_environ([1000]))
    with pytest.raises(ValueError, match=match):
        disc.register(name, index, addr)


@pytest.mark.parametrize("change, match", [
    ({"MLP_ROLE": ""}, "MLP_ROLE is not set"),
    ({"MLP_ROLE": "server"}, "MLP_SERVER_NUM is not set"),
    ({"MLP_ROLE_INDEX": "x"}, "MLP_ROLE_INDEX must be an integer"),
    ({"MLP_ROLE_INDEX": "5"}, r"MLP_ROLE_INDEX must be in \[0, 2\)"),
    ({"MLP_WORKER_NUM": "3"}, "MLP_WORKER_ALL_HOSTS must list MLP_WORKER_NUM=3 hosts, got 2"),
    ({"MLP_WORKER_1_PORT": ""}, "MLP_WORKER_1_PORT must be an integer"),
])
def test_bad_environment(change, match):
    with pytest.raises(ValueError, match=match):
        MLPServiceDiscovery({**_environ([1000]), **change})
