"""Bounded retries with exponential backoff and jitter for gRPC calls.

The one place a client decides to try a call again. Only the status codes in
``retry_on`` are retried (UNAVAILABLE by default: the peer could not be
reached, so the call most likely never ran); every other error reaches the
caller on the first attempt.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

import grpc

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    Attempt k (k = 1, 2, ...) that fails with a retryable code waits
    ``min(max_backoff_s, initial_backoff_s * multiplier ** (k - 1))`` scaled
    down by a random fraction of up to ``jitter`` (1.0 is full jitter: a
    uniform wait in [0, cap]), so clients that failed together do not retry
    together. ``max_attempts`` counts the first call; 1 disables retries.
    """

    max_attempts: int = 5
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 2.0
    multiplier: float = 2.0
    jitter: float = 1.0

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_backoff_s < 0:
            raise ValueError(f"initial_backoff_s must be >= 0, got {self.initial_backoff_s}")
        if self.max_backoff_s < self.initial_backoff_s:
            raise ValueError(
                f"max_backoff_s must be >= initial_backoff_s ({self.initial_backoff_s}), "
                f"got {self.max_backoff_s}"
            )
        if self.multiplier < 1.0:
            raise ValueError(f"multiplier must be >= 1.0, got {self.multiplier}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter}")

    def backoff_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (attempt - 1))
        draw = (rng or random).random()
        return cap * (1.0 - self.jitter * draw)


DEFAULT_RETRY = RetryPolicy()


def _status(exc: grpc.RpcError) -> grpc.StatusCode | None:
    code = getattr(exc, "code", None)
    return code() if callable(code) else None


async def call_with_retry(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    retry_on: Collection[grpc.StatusCode] = (grpc.StatusCode.UNAVAILABLE,),
) -> T:
    """Awaits ``fn()``, calling it again after a backoff while it fails with a code in ``retry_on``.

    ``fn`` starts a fresh call each time (e.g. ``lambda: stub.Pull(req, timeout=t)``).
    The last error is raised unchanged once ``policy.max_attempts`` calls failed.
    """
    attempt = 1
    while True:
        try:
            return await fn()
        except grpc.RpcError as exc:
            if attempt >= policy.max_attempts or _status(exc) not in retry_on:
                raise
        await asyncio.sleep(policy.backoff_s(attempt))
        attempt += 1
