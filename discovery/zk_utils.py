"""ZooKeeper plumbing shared by ZK discovery and job cleanup: config, client, path layout.

Layout: ``/monolith/<job_name>/<role>.<index>``, one ephemeral node per live replica.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.retry import KazooRetry

log = logging.getLogger(__name__)

ROOT_PATH = "/monolith"
STALE_AFTER_S = 9 * 7 * 24 * 3600.0


@dataclass(frozen=True)
class ZKConfig:
    """Where the ensemble is and how patient to be with it.

    ``servers``: ``"host:port,host:port"``. Commands are tried ``max_tries`` times,
    ``delay_s`` apart; reconnection never gives up, backing off to at most
    ``delay_s``. Own nodes are checked (recreated, their data repaired) every
    ``registration_period_s``. ``auth_data``: ``((scheme, credential), ...)``.
    """

    job_name: str
    servers: str
    session_timeout_s: float = 10.0
    connect_timeout_s: float = 15.0
    max_tries: int = 3
    delay_s: float = 5.0
    registration_period_s: float = 60.0
    auth_data: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if not isinstance(self.job_name, str) or not self.job_name or "/" in self.job_name:
            raise ValueError(f"job_name must be a non-empty name without '/', got {self.job_name!r}")
        if not isinstance(self.servers, str) or not self.servers.strip():
            raise ValueError(f"servers must be 'host:port[,host:port...]', got {self.servers!r}")
        for field in ("session_timeout_s", "connect_timeout_s", "delay_s", "registration_period_s"):
            if getattr(self, field) <= 0:
                raise ValueError(f"{field} must be > 0, got {getattr(self, field)}")
        if self.max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {self.max_tries}")
        for pair in self.auth_data:
            if len(pair) != 2:
                raise ValueError(f"auth_data entries must be (scheme, credential), got {pair!r}")


def job_path(job_name: str) -> str:
    return f"{ROOT_PATH}/{job_name}"


def connect(config: ZKConfig) -> KazooClient:
    """A started client; raises ``KazooTimeoutError`` if no server answers in time."""
    client = KazooClient(
        hosts=config.servers,
        timeout=config.session_timeout_s,
        connection_retry=KazooRetry(max_tries=-1, delay=min(0.1, config.delay_s), backoff=2,
                                    max_delay=config.delay_s),
        command_retry=KazooRetry(max_tries=config.max_tries, delay=config.delay_s, backoff=1,
                                 max_delay=config.delay_s),
        auth_data=list(config.auth_data) or None,
    )
    client.start(timeout=config.connect_timeout_s)
    return client


def _has_live_replicas(client: KazooClient, path: str, children: list[str]) -> bool:
    for child in children:
        stat = client.exists(f"{path}/{child}")
        if stat is not None and stat.ephemeralOwner:
            return True
    return False


def clear_zk_path(config: ZKConfig, force_clear: bool = False, *,
                  max_age_s: float = STALE_AFTER_S, now_s: float | None = None) -> None:
    """Prepares ``/monolith`` for a new run of ``config.job_name``.

    Deletes other jobs' paths not modified for ``max_age_s`` (9 weeks) and holding
    no live (ephemeral) replica; errors there are logged and skipped. If this job's
    path already holds replicas, deletes it when ``force_clear``, else raises
    ``ValueError`` naming them (another run of the job may still be alive).
    """
    now_s = time.time() if now_s is None else now_s
    client = connect(config)
    try:
        client.ensure_path(ROOT_PATH)
        for job in client.get_children(ROOT_PATH):
            path = f"{ROOT_PATH}/{job}"
            try:
                children, stat = client.get_children(path, include_data=True)
                if (stat.mtime / 1000.0 + max_age_s < now_s
                        and not _has_live_replicas(client, path, children)):
                    log.info("deleting stale zk path %s", path)
                    client.delete(path, recursive=True)
            except KazooException as err:
                log.warning("could not clear stale zk path %s: %s", path, err)
        path = job_path(config.job_name)
        if client.exists(path):
            if force_clear:
                client.delete(path, recursive=True)
            else:
                children = sorted(client.get_children(path))
                if children:
                    raise ValueError(f"there are {children} in monolith zk path {path}")
    finally:
        client.stop()
        client.close()
