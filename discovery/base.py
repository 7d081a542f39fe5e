"""The discovery interface every backend implements, and the enum that names the backends.

A role registers ``(name, index, addr)`` when it starts serving, deregisters on
shutdown, and queries the others by name: ``query("ps") -> {0: "10.0.0.1:9000", ...}``.
Calls block (network or disk I/O); async servers run them in their thread pool.
"""

from __future__ import annotations

import abc
import enum


class DiscoveryType(enum.Enum):
    """Which backend a process uses; ``FILE`` is the local default."""

    FILE = "file"
    TF_CONFIG = "tf_config"
    MLP = "mlp"
    ZK = "zk"
    CONSUL = "consul"

    @classmethod
    def parse(cls, value: str | DiscoveryType) -> DiscoveryType:
        """Converts a flag or env string (case-insensitive) to the enum, once, at the edge."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(t.value for t in cls)
            raise ValueError(f"discovery type must be one of {allowed}, got {value!r}") from None


class ServiceDiscovery(abc.ABC):
    """Register, deregister and look up role addresses; ``close`` releases the backend.

    Usable as a context manager that closes on exit.
    """

    @abc.abstractmethod
    def register(self, name: str, index: int, addr: str) -> None:
        """Publishes ``addr`` as replica ``index`` of role ``name``, replacing an older addr."""

    @abc.abstractmethod
    def deregister(self, name: str, index: int, addr: str) -> None:
        """Withdraws replica ``index`` of ``name`` if it is still published as ``addr``."""

    @abc.abstractmethod
    def query(self, name: str) -> dict[int, str]:
        """Currently visible replicas of role ``name``: index -> addr (empty if none)."""

    def close(self) -> None:
        """Releases connections and threads; safe to call more than once."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_entry(name: str, index: int, addr: str | None = None) -> None:
    """Rejects entries no backend can store: empty or path-like names, negative indices, no addr."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"name must be a non-empty string without '/' or a leading '.', got {name!r}")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"index must be an int >= 0, got {index!r}")
    if addr is not None and (not isinstance(addr, str) or not addr or any(c.isspace() for c in addr)):
        raise ValueError(f"addr must be a non-empty 'host:port' string without spaces, got {addr!r}")
