import socket

import pytest

from discovery import (
    NodeAliveChecker,
    concat_ip_and_port,
    get_local_ip,
    get_local_server_addr,
    is_ipv6_address,
    split_addr,
)


def test_concat_ip_and_port():
    assert concat_ip_and_port("127.0.0.1", 10) == "127.0.0.1:10"
    assert concat_ip_and_port("localhost", "10") == "localhost:10"
    assert concat_ip_and_port("::1", 10) == "[::1]:10"
    assert concat_ip_and_port("fe80::1:2", 8080) == "[fe80::1:2]:8080"


def test_is_ipv6_address():
    assert is_ipv6_address("::1")
    assert not is_ipv6_address("127.0.0.1")
    assert not is_ipv6_address("localhost")
    assert not is_ipv6_address("[::1]")


def test_split_addr_inverts_concat():
    for ip in ("127.0.0.1", "::1", "host-a"):
        assert split_addr(concat_ip_and_port(ip, 4242)) == (ip, 4242)
    with pytest.raises(ValueError, match="host:port"):
        split_addr("no-port")


def test_local_ip_and_server_addr():
    ip = get_local_ip()
    assert ip
    socket.inet_pton(socket.AF_INET6 if is_ipv6_address(ip) else socket.AF_INET, ip)
    assert split_addr(get_local_server_addr(1234)) == (ip, 1234)


@pytest.fixture
def listeners():
    socks = []

    def make(family=socket.AF_INET, host="127.0.0.1", backlog=16):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.bind((host, 0))
        sock.listen(backlog)
        socks.append(sock)
        return sock.getsockname()[1]

    yield make
    for sock in socks:
        sock.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_node_alive_checker_splits_alive_and_dead(listeners):
    alive = [f"127.0.0.1:{listeners()}" for _ in range(3)]
    dead = [f"127.0.0.1:{_closed_port()}" for _ in range(2)]
    checker = NodeAliveChecker(alive + dead, timeout_s=1.0, num_threads=2)
    assert set(checker.get_addrs()) == set(alive + dead)
    assert set(checker.get_alive_nodes()) == set(alive)
    assert set(checker.get_dead_nodes()) == set(dead)
    assert not checker.all_nodes_alive()


def test_node_alive_checker_all_alive(listeners):
    addrs = [f"127.0.0.1:{listeners()}" for _ in range(5)]
    checker = NodeAliveChecker(addrs)
    assert checker.all_nodes_alive()
    assert sorted(checker.get_alive_nodes()) == sorted(addrs)
    assert checker.get_dead_nodes() == []


def test_node_alive_checker_timeout_counts_as_dead(listeners):
    """A listener whose accept queue is full drops new SYNs, so connect times out."""
    port = listeners(backlog=0)
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        checker = NodeAliveChecker([f"127.0.0.1:{port}"], timeout_s=0.3)
        assert checker.get_dead_nodes() == [f"127.0.0.1:{port}"]
    finally:
        for filler in fillers:
            filler.close()


def test_node_alive_checker_ipv6(listeners):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 support")
    try:
        port = listeners(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("::1 not configured")
    checker = NodeAliveChecker([f"[::1]:{port}", "malformed"])
    assert checker.get_alive_nodes() == [f"[::1]:{port}"]
    assert checker.get_dead_nodes() == ["malformed"]


def test_node_alive_checker_rejects_bad_settings():
    with pytest.raises(ValueError, match="timeout_s"):
        NodeAliveChecker([], timeout_s=0)
    with pytest.raises(ValueError, match="num_threads"):
        NodeAliveChecker([], num_threads=0)
