"""What every serving role (PS, controller) opens and closes the same way: its gRPC port (TLS
per the security config), health status, metrics endpoint and discovery entry.

Opening ends with the discovery entry, so peers find a server that already answers;
closing starts by reporting NOT_SERVING and leaving discovery, so peers stop coming
before in-flight calls are drained.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health, health_pb2
from prometheus_client import CollectorRegistry

from discovery.factory import DiscoveryConfig, create_discovery
from discovery.net import advertised_address
from services.metrics import serve_metrics
from services.security import SecurityConfig, add_port

log = logging.getLogger(__name__)


class Endpoint:
    """``role`` ``index`` served by ``server`` on host:port (0: any free port). While open,
    ``discovery`` is the backend it registered with (None without one), there for queries."""

    def __init__(self, server: grpc.aio.Server, health_servicer: health.aio.HealthServicer,
                 registry: CollectorRegistry, role: str, index: int, *, host: str, port: int,
                 advertise_addr: str | None = None, security: SecurityConfig | None = None,
                 metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
                 discovery: DiscoveryConfig | None = None):
        self.server = server
        self.health = health_servicer
        self.registry = registry
        self.role, self.index = role, index
        self.host, self.requested_port = host, port
        self.advertise_addr = advertise_addr
        self.security = security
        self.metrics_port, self.metrics_host = metrics_port, metrics_host
        self.discovery_config = discovery
        self.port = 0
        self.metrics_server = None
        self.discovery = None

    @property
    def address(self) -> str:
        """The address other roles reach this server at (registered in discovery)."""
        return advertised_address(self.host, self.port, self.advertise_addr)

    async def open(self, service_names: Sequence[str]) -> int:
        """Binds, serves, reports SERVING for ``service_names`` and registers; returns the port."""
        self.port = add_port(self.server, f"{self.host}:{self.requested_port}", self.security)
        if self.port == 0:
            raise OSError(f"cannot bind {self.host}:{self.requested_port}")
        if self.metrics_port is not None:
            self.metrics_server = serve_metrics(self.registry, self.metrics_port, self.metrics_host)
        await self.server.start()
        for name in ("", *service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if self.discovery_config is not None:
            self.discovery = await asyncio.to_thread(create_discovery, self.discovery_config)
            await asyncio.to_thread(self.discovery.register, self.role, self.index, self.address)
        return self.port

    async def close(self, grace_s: float) -> None:
        """NOT_SERVING, out of discovery, in-flight calls drained within ``grace_s``, released."""
        await self.health.enter_graceful_shutdown()
        if self.discovery is not None:
            try:
                await asyncio.to_thread(self.discovery.deregister, self.role, self.index,
                                        self.address)
                await asyncio.to_thread(self.discovery.close)
            except Exception:
                log.exception("deregistering from discovery failed")
            self.discovery = None
        log.info("stopping", extra={"grace_s": grace_s})
        await self.server.stop(grace_s)
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
