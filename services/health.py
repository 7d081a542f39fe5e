"""Waiting for a server's standard gRPC health service to answer SERVING."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.security import SecurityConfig, sync_channel


def is_serving(channel: grpc.Channel, timeout_s: float = 1.0) -> bool:
    """One health check on ``channel``: True when the server answers SERVING."""
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=timeout_s)
    except grpc.RpcError:
        return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def wait_serving(address: str, timeout_s: float, exited: Callable[[], str | None] = lambda: None,
                 security: SecurityConfig | None = None) -> bool:
    """Polls ``address`` until SERVING (True) or ``timeout_s`` passes (False).

    ``exited()`` returns a reason once the server's process is gone; that raises
    RuntimeError at once instead of waiting out the timeout. ``security`` reaches a
    TLS server (health needs no token).
    """
    deadline = time.monotonic() + timeout_s
    with sync_channel(address, security) as channel:
        while time.monotonic() < deadline:
            reason = exited()
            if reason:
                raise RuntimeError(f"{address}: {reason}")
            if is_serving(channel):
                return True
            time.sleep(0.05)
    return False
