"""Address helpers (IPv4/IPv6 formatting, local IP) and a threaded TCP liveness check."""

from __future__ import annotations

import enum
import ipaddress
import logging
import queue
import socket
import threading
from collections.abc import Iterable

log = logging.getLogger(__name__)


class AddressFamily(enum.Enum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"


def is_ipv6_address(ip: str) -> bool:
    """True for a literal IPv6 address (brackets not allowed); False for IPv4 or hostnames."""
    try:
        return ipaddress.ip_address(ip).version == 6
    except ValueError:
        return False


def concat_ip_and_port(ip: str, port: int | str) -> str:
    """``ip:port``, or ``[ip]:port`` for IPv6 so the port stays unambiguous."""
    return f"[{ip}]:{port}" if is_ipv6_address(ip) else f"{ip}:{port}"


def split_addr(addr: str) -> tuple[str, int]:
    """Inverse of ``concat_ip_and_port``: ``"[::1]:10" -> ("::1", 10)``."""
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"addr must be 'host:port' or '[v6]:port', got {addr!r}")
    return host.strip("[]"), int(port)


def get_local_ip() -> str:
    """First address this host's name resolves to, retrying IPv6-only when IPv4 fails."""
    hostname = socket.gethostname()
    try:
        return socket.getaddrinfo(hostname, None)[0][4][0]
    except socket.gaierror:
        return socket.getaddrinfo(hostname, None, family=socket.AF_INET6)[0][4][0]


def is_ipv4_supported() -> bool:
    return not is_ipv6_address(get_local_ip())


def get_local_server_addr(port: int) -> str:
    """This host's address for peers to dial: ``ip:port`` or ``[v6]:port``."""
    return concat_ip_and_port(get_local_ip(), port)


class NodeAliveChecker:
    """Dials every ``host:port`` once over TCP from ``num_threads`` threads; blocks until done.

    Afterwards the addresses are split into an alive set (connect succeeded within
    ``timeout_s``) and a dead set (refused, unreachable or timed out).
    """

    def __init__(self, addrs: Iterable[str], timeout_s: float = 1.0, num_threads: int = 10):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        self._addrs = list(addrs)
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._alive: set[str] = set()
        self._dead: set[str] = set()
        self._pending: queue.Queue[str] = queue.Queue()
        for addr in self._addrs:
            self._pending.put(addr)
        threads = [threading.Thread(target=self._drain, daemon=True)
                   for _ in range(min(num_threads, max(1, len(self._addrs))))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _drain(self) -> None:
        while True:
            try:
                addr = self._pending.get_nowait()
            except queue.Empty:
                return
            alive = self._ping(addr)
            with self._lock:
                (self._alive if alive else self._dead).add(addr)

    def _ping(self, addr: str) -> bool:
        try:
            host, port = split_addr(addr)
            family = socket.AF_INET6 if is_ipv6_address(host) else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(self._timeout_s)
                sock.connect((host, port))
            return True
        except (OSError, ValueError) as err:
            log.warning("cannot connect to %s, because %s", addr, err)
            return False

    def all_nodes_alive(self) -> bool:
        return not self._dead

    def get_dead_nodes(self) -> list[str]:
        return list(self._dead)

    def get_alive_nodes(self) -> list[str]:
        return list(self._alive)

    def get_addrs(self) -> list[str]:
        return list(self._addrs)


def advertised_address(host: str, port: int, advertise_addr: str | None = None) -> str:
    """The address other roles reach a server at: ``advertise_addr`` if given, else host:port
    with a wildcard host replaced by this machine's IP."""
    if advertise_addr:
        return advertise_addr
    if host in ("0.0.0.0", "::", ""):
        host = get_local_ip()
    return concat_ip_and_port(host, port)
