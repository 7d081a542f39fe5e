"""Consul discovery through the local agent (py-consul).

Each replica is one Consul service instance named ``consul_id`` (the job), with
tags ``index:<i>``, ``name:<role>``, ``ip:<ip>`` and service id
``<consul_id>-<port>``. A TTL check, passed by a heartbeat thread, keeps it in
the passing set; a replica whose check is critical (dead process, or an address
the operator blacklisted) disappears from queries. Network errors are retried
(``retry_with_socket_error``).

Agent address: ``ConsulConfig.host``/``port``, else ``CONSUL_HTTP_HOST`` (or
``TCE_HOST_IP``) and ``CONSUL_HTTP_PORT``, else py-consul's ``CONSUL_HTTP_ADDR``
or ``127.0.0.1:8500``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import consul

from discovery.base import ServiceDiscovery, check_entry
from discovery.net import concat_ip_and_port, split_addr
from discovery.retry import DEFAULT_MAX_BACKOFF_S, DEFAULT_MAX_TRIES, retry_with_socket_error

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsulConfig:
    """``consul_id``: the Consul service name shared by every replica of one job.

    A registration must become visible within ``register_timeout_s`` (checked
    every ``retry_time_s``) or ``register`` raises ``OSError``.
    """

    consul_id: str
    host: str | None = None
    port: int | None = None
    retry_time_s: float = 3.0
    register_timeout_s: float = 180.0
    check_ttl_s: float = 60.0
    request_timeout_s: float = 15.0
    max_tries: int = DEFAULT_MAX_TRIES
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S

    def __post_init__(self):
        if not isinstance(self.consul_id, str) or not self.consul_id or "/" in self.consul_id:
            raise ValueError(f"consul_id must be a non-empty name without '/', got {self.consul_id!r}")
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"port must be in [1, 65535] or None, got {self.port}")
        for field in ("retry_time_s", "register_timeout_s", "check_ttl_s", "request_timeout_s"):
            if getattr(self, field) <= 0:
                raise ValueError(f"{field} must be > 0, got {getattr(self, field)}")
        if self.max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {self.max_tries}")
        if self.max_backoff_s < 0:
            raise ValueError(f"max_backoff_s must be >= 0, got {self.max_backoff_s}")


class _Entry(NamedTuple):
    name: str
    index: int
    addr: str
    service_id: str
    node_addr: str | None


def _agent_address(config: ConsulConfig, environ: Mapping[str, str]) -> tuple[str | None, int | None]:
    host = config.host or environ.get("CONSUL_HTTP_HOST") or environ.get("TCE_HOST_IP")
    port = config.port
    if port is None and environ.get("CONSUL_HTTP_PORT"):
        try:
            port = int(environ["CONSUL_HTTP_PORT"])
        except ValueError:
            raise ValueError(
                f"CONSUL_HTTP_PORT must be an integer, got {environ['CONSUL_HTTP_PORT']!r}") from None
    if host is not None or port is not None:
        return host or "127.0.0.1", port or 8500
    return None, None


def _parse_tags(tags) -> dict[str, str]:
    out = {}
    for tag in tags or ():
        key, sep, value = str(tag).partition(":")
        if sep:
            out[key] = value
    return out


def _entry(service_id: str, tags, port, ip_fallback: str | None,
           node_addr: str | None) -> _Entry | None:
    parsed = _parse_tags(tags)
    try:
        name, index = parsed["name"], int(parsed["index"])
    except (KeyError, ValueError):
        return None
    ip = parsed.get("ip") or ip_fallback or node_addr
    if not ip or port is None:
        return None
    return _Entry(name, index, concat_ip_and_port(ip, port), service_id, node_addr)


class ConsulServiceDiscovery(ServiceDiscovery):
    """Registers replicas with the local Consul agent and reads the passing ones back."""

    def __init__(self, config: ConsulConfig, environ: Mapping[str, str] | None = None):
        """``environ``: where to read the agent address variables (default ``os.environ``)."""
        self._config = config
        host, port = _agent_address(config, os.environ if environ is None else environ)
        self._client = consul.Consul(host=host, port=port,
                                     connections_timeout=config.request_timeout_s)
        self._lock = threading.Lock()
        self._checks: set[str] = set()
        self._stopped = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def _call(self, fn: Callable[[], T]) -> T:
        return retry_with_socket_error(fn, max_tries=self._config.max_tries,
                                       max_backoff_s=self._config.max_backoff_s)

    def _passing(self) -> list[_Entry]:
        _, items = self._call(lambda: self._client.health.service(
            self._config.consul_id, passing=True))
        entries = []
        for item in items or ():
            svc, node = item.get("Service") or {}, item.get("Node") or {}
            entry = _entry(svc.get("ID", ""), svc.get("Tags"), svc.get("Port"),
                           svc.get("Address"), node.get("Address"))
            if entry is not None:
                entries.append(entry)
        return entries

    def _catalog(self) -> list[_Entry]:
        _, items = self._call(lambda: self._client.catalog.service(self._config.consul_id))
        entries = []
        for item in items or ():
            entry = _entry(item.get("ServiceID", ""), item.get("ServiceTags"),
                           item.get("ServicePort"), item.get("ServiceAddress"), item.get("Address"))
            if entry is not None:
                entries.append(entry)
        return entries

    def _is_local(self, entry: _Entry) -> bool:
        services = self._call(self._client.agent.services) or {}
        svc = services.get(entry.service_id)
        if svc is None:
            return False
        local = _entry(entry.service_id, svc.get("Tags"), svc.get("Port"), svc.get("Address"), None)
        return local is not None and local[:3] == entry[:3]

    def _remove(self, entry: _Entry) -> None:
        """Deregisters through the agent that owns the entry: ours, else the entry's node's."""
        if self._is_local(entry):
            agent = self._client
        elif entry.node_addr:
            agent = consul.Consul(host=entry.node_addr, port=self._client.http.port,
                                  connections_timeout=self._config.request_timeout_s)
        else:
            raise consul.ConsulException(f"no agent known for {entry.service_id}")
        self._call(lambda: agent.agent.service.deregister(entry.service_id))

    def register(self, name: str, index: int, addr: str) -> None:
        """Replaces any other instance at ``index``, registers, then waits until it is visible.

        Raises ``OSError`` when the entry never shows up as passing (e.g. the
        address is blacklisted).
        """
        check_entry(name, index, addr)
        ip, port = split_addr(addr)
        service_id = f"{self._config.consul_id}-{port}"
        for entry in self._catalog():
            if entry.name == name and entry.index == index and entry.service_id != service_id:
                try:
                    self._remove(entry)
                except (consul.ConsulException, OSError) as err:
                    log.warning("could not remove old %s.%d at %s: %s", name, index, entry.addr, err)
        check_id = f"service:{service_id}"
        check = {"CheckID": check_id, "Name": f"{name}.{index} heartbeat",
                 "TTL": f"{self._config.check_ttl_s:g}s"}
        self._call(lambda: self._client.agent.service.register(
            self._config.consul_id, service_id=service_id, address=ip, port=port,
            tags=[f"index:{index}", f"name:{name}", f"ip:{ip}"], check=check))
        self._call(lambda: self._client.agent.check.ttl_pass(check_id))
        with self._lock:
            self._checks.add(check_id)
            self._start_heartbeat()
        tries = max(2, int(self._config.register_timeout_s / self._config.retry_time_s))
        for attempt in range(tries):
            if self.query(name).get(index) == addr:
                return
            if attempt + 1 < tries:
                time.sleep(self._config.retry_time_s)
        raise OSError(
            f"{name}.{index} at {addr} registered in consul service {self._config.consul_id!r} "
            f"but not visible as passing after {tries} checks; the address may be blacklisted")

    def deregister(self, name: str, index: int, addr: str) -> None:
        check_entry(name, index, addr)
        service_id = f"{self._config.consul_id}-{split_addr(addr)[1]}"
        with self._lock:
            self._checks.discard(f"service:{service_id}")
        for entry in self._catalog():
            if (entry.service_id, entry.name, entry.index, entry.addr) == (
                    service_id, name, index, addr):
                self._remove(entry)

    def query(self, name: str) -> dict[int, str]:
        check_entry(name, 0)
        return dict(sorted((e.index, e.addr) for e in self._passing() if e.name == name))

    def query_all(self) -> dict[str, dict[int, str]]:
        """Every passing replica of the job: role -> index -> addr."""
        out: dict[str, dict[int, str]] = {}
        for entry in sorted(self._passing()):
            out.setdefault(entry.name, {})[entry.index] = entry.addr
        return out

    def deregister_all(self) -> None:
        """Removes every instance of the job, passing or not, through each node's agent."""
        for entry in self._catalog():
            try:
                self._remove(entry)
            except (consul.ConsulException, OSError) as err:
                log.warning("could not deregister %s at %s: %s", entry.service_id, entry.addr, err)
        with self._lock:
            self._checks.clear()

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None and not self._stopped.is_set():
            self._heartbeat = threading.Thread(target=self._beat, name="consul-heartbeat",
                                               daemon=True)
            self._heartbeat.start()

    def _beat(self) -> None:
        interval_s = self._config.check_ttl_s / 3.0
        while not self._stopped.wait(interval_s):
            with self._lock:
                checks = sorted(self._checks)
            for check_id in checks:
                try:
                    self._client.agent.check.ttl_pass(check_id)
                except (consul.ConsulException, OSError) as err:
                    log.warning("consul heartbeat for %s failed: %s", check_id, err)

    def close(self) -> None:
        self._stopped.set()
        if self._heartbeat is not None:
            self._heartbeat.join()


def deregister_all(config: ConsulConfig) -> None:
    """Removes every instance registered under ``config.consul_id``."""
    with ConsulServiceDiscovery(config) as discovery:
        discovery.deregister_all()
