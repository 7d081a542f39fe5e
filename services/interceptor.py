"""The one boundary between domain errors and gRPC status, with RPC metrics.

PSError subclasses become their status and message; any other exception
becomes INTERNAL and is logged with its traceback. Every unary call is
counted by method and code and timed.
"""

from __future__ import annotations

import logging
import time

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from services.errors import PSError

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class RpcMetrics:
    """RPC counters and latency histograms registered in one registry."""

    def __init__(self, registry: CollectorRegistry, prefix: str, role: str):
        self.requests = Counter(
            f"{prefix}_{role}_rpc", "RPCs handled, by method and status code",
            ["method", "code"], registry=registry)
        self.latency = Histogram(
            f"{prefix}_{role}_rpc_latency_seconds", "RPC handling time, by method",
            ["method"], registry=registry, buckets=_LATENCY_BUCKETS)


class StatusInterceptor(grpc.aio.ServerInterceptor):
    """Maps exceptions to status codes and records RPC metrics."""

    def __init__(self, metrics: RpcMetrics | None = None):
        self.metrics = metrics

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        inner = handler.unary_unary
        metrics = self.metrics

        async def behavior(request, context):
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            debug = log.isEnabledFor(logging.DEBUG)
            if debug:
                log.debug("rpc started", extra={"method": method})
            try:
                return await inner(request, context)
            except PSError as exc:
                code = exc.code
                await context.abort(exc.code, exc.message)
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception as exc:
                code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error in %s", method)
                await context.abort(code, f"{method}: internal error: {type(exc).__name__}: {exc}")
            finally:
                if debug:
                    log.debug("rpc finished", extra={
                        "method": method, "code": code.name,
                        "seconds": round(time.perf_counter() - start, 6)})
                if metrics is not None:
                    metrics.requests.labels(method, code.name).inc()
                    metrics.latency.labels(method).observe(time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
