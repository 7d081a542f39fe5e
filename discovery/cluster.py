"""Waiting for a training cluster to assemble, and the PS cluster file that pins its PS list.

The chief is worker 0. A job's PS list can be written once to
``<model_dir>/ps_cluster_dir/<uuid or ps_info>`` (comma list, atomic write) so
every worker, and a restarted chief, uses the same PS in the same order.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from discovery.base import ServiceDiscovery
from services.files import write_text_atomic

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 1800.0
DEFAULT_POLL_INTERVAL_S = 5.0


class ClusterTimeoutError(TimeoutError):
    """The cluster did not assemble in time; the message names who is missing."""


def _check_wait(timeout_s: float, poll_interval_s: float) -> None:
    if timeout_s < 0:
        raise ValueError(f"timeout_s must be >= 0, got {timeout_s}")
    if poll_interval_s <= 0:
        raise ValueError(f"poll_interval_s must be > 0, got {poll_interval_s}")


def _poll(probe: Callable[[], bool], timeout_s: float, poll_interval_s: float) -> bool:
    """Calls ``probe`` until it returns True or ``timeout_s`` passed (one call at least)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if probe():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(poll_interval_s, remaining))


def wait_for_chief(discovery: ServiceDiscovery, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                   poll_interval_s: float = DEFAULT_POLL_INTERVAL_S) -> str:
    """The chief's addr (worker 0), once registered; ``ClusterTimeoutError`` after ``timeout_s``."""
    _check_wait(timeout_s, poll_interval_s)
    workers: dict[int, str] = {}

    def probe() -> bool:
        workers.clear()
        workers.update(discovery.query("worker"))
        return 0 in workers

    if not _poll(probe, timeout_s, poll_interval_s):
        raise ClusterTimeoutError(
            f"chief (worker 0) not registered within {timeout_s:g} s; "
            f"workers registered: {sorted(workers) or 'none'}")
    return workers[0]


def wait_for_ps(discovery: ServiceDiscovery, num_ps: int, *,
                timeout_s: float = DEFAULT_TIMEOUT_S,
                poll_interval_s: float = DEFAULT_POLL_INTERVAL_S) -> list[str]:
    """Addrs of PS 0..num_ps-1 in index order, once all are registered.

    PS ``i`` serves shard ``i``, so every index must be present; extra PS
    (index >= ``num_ps``) are ignored. ``ClusterTimeoutError`` names the missing
    indices after ``timeout_s``.
    """
    if num_ps < 1:
        raise ValueError(f"num_ps must be >= 1, got {num_ps}")
    _check_wait(timeout_s, poll_interval_s)
    found: dict[int, str] = {}

    def probe() -> bool:
        found.clear()
        found.update(discovery.query("ps"))
        have = sum(1 for i in range(num_ps) if i in found)
        log.info("found %d of %d ps", have, num_ps)
        return have == num_ps

    if not _poll(probe, timeout_s, poll_interval_s):
        missing = [i for i in range(num_ps) if i not in found]
        raise ClusterTimeoutError(
            f"{len(missing)} of {num_ps} ps not registered within {timeout_s:g} s: "
            f"missing ps indices {missing}; registered: {sorted(found) or 'none'}")
    return [found[i] for i in range(num_ps)]


def ps_cluster_file_name(model_dir: str | os.PathLike, uuid: str | None = None) -> Path:
    """``<model_dir>/ps_cluster_dir/<uuid or "ps_info">``."""
    return Path(model_dir) / "ps_cluster_dir" / (uuid or "ps_info")


def save_ps_cluster_to_file(path: str | os.PathLike, ps_addrs: list[str]) -> None:
    """Writes the PS addrs as one comma-separated line, atomically."""
    for addr in ps_addrs:
        if not addr or "," in addr or any(c.isspace() for c in addr):
            raise ValueError(f"ps addrs must be non-empty without ',' or spaces, got {addr!r}")
    write_text_atomic(path, ",".join(ps_addrs))


def fetch_ps_cluster_from_file(path: str | os.PathLike, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                               poll_interval_s: float = 1.0) -> list[str]:
    """The PS addrs saved in ``path``, waiting up to ``timeout_s`` for the file; ``[]`` if none."""
    _check_wait(timeout_s, poll_interval_s)
    addrs: list[str] = []

    def probe() -> bool:
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return False
        addrs[:] = [a for a in text.split(",") if a]
        return bool(addrs)

    _poll(probe, timeout_s, poll_interval_s)
    return addrs
