"""call_with_retry against a real gRPC server that fails its first calls."""

import asyncio
import random

import grpc
import pytest

from services.retry import RetryPolicy, call_with_retry

_FAST = RetryPolicy(max_attempts=4, initial_backoff_s=0.001, max_backoff_s=0.01)


async def _with_flaky_server(failures: int, code: grpc.StatusCode, body):
    """Runs ``body(call, calls)`` against a server whose first ``failures`` calls fail with ``code``."""
    calls = []

    async def handle(request: bytes, context) -> bytes:
        calls.append(request)
        if len(calls) <= failures:
            await context.abort(code, f"failure {len(calls)}")
        return b"ok:" + request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "test.Flaky", {"Call": grpc.unary_unary_rpc_method_handler(handle)}
    ),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/test.Flaky/Call")
            return await body(call, calls)
    finally:
        await server.stop(None)


def test_retries_unavailable_then_succeeds():
    async def body(call, calls):
        reply = await call_with_retry(lambda: call(b"x", timeout=5), _FAST)
        return reply, len(calls)

    reply, attempts = asyncio.run(_with_flaky_server(2, grpc.StatusCode.UNAVAILABLE, body))
    assert reply == b"ok:x"
    assert attempts == 3


def test_does_not_retry_invalid_argument():
    async def body(call, calls):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call_with_retry(lambda: call(b"x", timeout=5), _FAST)
        return err.value, len(calls)

    error, attempts = asyncio.run(_with_flaky_server(1, grpc.StatusCode.INVALID_ARGUMENT, body))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "failure 1"
    assert attempts == 1


def test_gives_up_after_max_attempts():
    async def body(call, calls):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call_with_retry(lambda: call(b"x", timeout=5), _FAST)
        return err.value, len(calls)

    error, attempts = asyncio.run(_with_flaky_server(100, grpc.StatusCode.UNAVAILABLE, body))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == f"failure {_FAST.max_attempts}"
    assert attempts == _FAST.max_attempts


def test_retry_on_is_configurable():
    async def body(call, calls):
        reply = await call_with_retry(
            lambda: call(b"y", timeout=5), _FAST, retry_on=(grpc.StatusCode.ABORTED,)
        )
        return reply, len(calls)

    reply, attempts = asyncio.run(_with_flaky_server(1, grpc.StatusCode.ABORTED, body))
    assert (reply, attempts) == (b"ok:y", 2)


def test_backoff_grows_caps_and_jitters():
    policy = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=0.5, multiplier=2.0, jitter=0.0)
    assert [policy.backoff_s(k) for k in (1, 2, 3, 4)] == pytest.approx([0.1, 0.2, 0.4, 0.5])
    full = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=0.5, jitter=1.0)
    rng = random.Random(0)
    waits = [full.backoff_s(3, rng) for _ in range(200)]
    assert all(0.0 <= w <= 0.4 for w in waits)
    assert max(waits) - min(waits) > 0.2


@pytest.mark.parametrize("field, value", [
    ("max_attempts", 0), ("initial_backoff_s", -1.0), ("max_backoff_s", 0.01),
    ("multiplier", 0.5), ("jitter", 1.5),
])
def test_policy_validates_fields(field, value):
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**{field: value})
