"""MLP discovery: the platform fixes every replica's host and port in ``MLP_*`` env vars.

Variables read (role names upper-case, e.g. ``PS``, ``WORKER``, ``CHIEF``):

- ``MLP_ROLE``, ``MLP_ROLE_INDEX``, ``MLP_PORT``: this process's role, index and port.
- ``MLP_<ROLE>_NUM``: how many replicas the role has; the roles a job expects.
- ``MLP_<ROLE>_ALL_HOSTS``: comma list of the replicas' hosts, in index order.
- ``MLP_<ROLE>_<i>_PORT``: the port of replica ``i``.

Registration only checks the entry against that layout; deregistration hides an
entry from queries (filters), since the environment itself cannot change.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from discovery.base import ServiceDiscovery, check_entry
from discovery.net import NodeAliveChecker, concat_ip_and_port, split_addr

_NUM_VAR = re.compile(r"^MLP_(.+)_NUM$")


@dataclass(frozen=True)
class MLPEnv:
    """The job layout parsed from ``MLP_*`` variables; role keys are upper-case."""

    role: str
    index: int
    port: int
    addrs: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> MLPEnv:
        env = os.environ if environ is None else environ
        role = env.get("MLP_ROLE", "").strip().upper()
        if not role:
            raise ValueError("MLP_ROLE is not set: not running under MLP")
        index = _int_var(env, "MLP_ROLE_INDEX", "0")
        port = _int_var(env, "MLP_PORT", "2222")
        addrs = {}
        for key in env:
            match = _NUM_VAR.match(key)
            if match:
                name = match.group(1)
                addrs[name] = _role_addrs(env, name, _int_var(env, key, "0"))
        if role not in addrs:
            raise ValueError(f"MLP_ROLE is {role!r} but MLP_{role}_NUM is not set")
        if not 0 <= index < len(addrs[role]):
            raise ValueError(f"MLP_ROLE_INDEX must be in [0, {len(addrs[role])}), got {index}")
        return cls(role, index, port, addrs)


def _int_var(env: Mapping[str, str], key: str, default: str) -> int:
    value = env.get(key, default)
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {value!r}") from None


def _role_addrs(env: Mapping[str, str], role: str, num: int) -> tuple[str, ...]:
    hosts = [h.strip() for h in env.get(f"MLP_{role}_ALL_HOSTS", "").split(",") if h.strip()]
    if len(hosts) != num:
        raise ValueError(
            f"MLP_{role}_ALL_HOSTS must list MLP_{role}_NUM={num} hosts, got {len(hosts)}")
    return tuple(concat_ip_and_port(host, _int_var(env, f"MLP_{role}_{i}_PORT", ""))
                 for i, host in enumerate(hosts))


class MLPServiceDiscovery(ServiceDiscovery):
    """Serves the MLP layout; PS entries whose port does not accept TCP are left out."""

    def __init__(self, environ: Mapping[str, str] | None = None, port_check_timeout_s: float = 1.0):
        """``environ``: the variables to read (default ``os.environ``)."""
        if port_check_timeout_s <= 0:
            raise ValueError(f"port_check_timeout_s must be > 0, got {port_check_timeout_s}")
        self._env = MLPEnv.from_environ(environ)
        self._port_check_timeout_s = port_check_timeout_s
        self._lock = threading.Lock()
        self._filters: set[tuple[str, int]] = set()

    def _expected(self, name: str, index: int) -> str:
        role = name.upper()
        if role not in self._env.addrs:
            raise ValueError(f"role must be one of {sorted(self._env.addrs)}, got {name!r}")
        addrs = self._env.addrs[role]
        if index >= len(addrs):
            raise ValueError(f"index of {name} must be in [0, {len(addrs)}), got {index}")
        return addrs[index]

    def register(self, name: str, index: int, addr: str) -> None:
        check_entry(name, index, addr)
        expected = self._expected(name, index)
        if split_addr(addr)[1] != split_addr(expected)[1]:
            raise ValueError(
                f"addr of {name}:{index} must use port {split_addr(expected)[1]} "
                f"(MLP layout {expected}), got {addr}")
        with self._lock:
            self._filters.discard((name.upper(), index))

    def deregister(self, name: str, index: int, addr: str) -> None:
        check_entry(name, index, addr)
        self._expected(name, index)
        with self._lock:
            self._filters.add((name.upper(), index))

    def deregister_all(self) -> None:
        """Hides every replica of every role."""
        with self._lock:
            self._filters.update((role, i) for role, addrs in self._env.addrs.items()
                                 for i in range(len(addrs)))

    def query(self, name: str, skip_port_check: bool = False) -> dict[int, str]:
        check_entry(name, 0)
        role = name.upper()
        with self._lock:
            found = {i: addr for i, addr in enumerate(self._env.addrs.get(role, ()))
                     if (role, i) not in self._filters}
        if role == "PS" and not skip_port_check and found:
            alive = set(NodeAliveChecker(found.values(), self._port_check_timeout_s)
                        .get_alive_nodes())
            found = {i: addr for i, addr in found.items() if addr in alive}
        return found

    def query_all(self) -> dict[str, dict[int, str]]:
        return {name: self.query(name) for name in ("ps", "worker", "chief")}

    @property
    def server_type(self) -> str:
        return self._env.role.lower()

    @property
    def index(self) -> int:
        return self._env.index

    @property
    def port(self) -> int:
        return self._env.port

    @property
    def addr(self) -> str:
        """This process's address from the layout (its host, ``MLP_PORT``)."""
        host = split_addr(self._env.addrs[self._env.role][self._env.index])[0]
        return concat_ip_and_port(host, self._env.port)
