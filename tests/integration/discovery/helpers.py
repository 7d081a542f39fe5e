"""Shared settings and polling for the discovery integration tests."""

from __future__ import annotations

import time
import uuid

from discovery import ConsulConfig, ZKConfig
from tests.zk_server import ZooKeeperServer


def fast_zk_config(server: ZooKeeperServer, job_name: str | None = None, **overrides) -> ZKConfig:
    settings = {"session_timeout_s": 2.0, "connect_timeout_s": 10.0, "delay_s": 0.2,
                "registration_period_s": 60.0}
    settings.update(overrides)
    return ZKConfig(job_name=job_name or f"job-{uuid.uuid4().hex[:8]}", servers=server.address,
                    **settings)


def eventually(probe, timeout_s: float = 15.0, interval_s: float = 0.05):
    """Polls ``probe()`` until it returns a truthy value; returns the last value either way."""
    deadline = time.monotonic() + timeout_s
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = probe()
    return value


def fast_consul_config(agent, consul_id: str = "monolith-job", **overrides) -> ConsulConfig:
    host, port = agent.address.rsplit(":", 1)
    settings = {"retry_time_s": 0.05, "register_timeout_s": 1.0, "max_backoff_s": 0.01,
                "request_timeout_s": 5.0}
    settings.update(overrides)
    return ConsulConfig(consul_id=consul_id, host=host, port=int(port), **settings)
