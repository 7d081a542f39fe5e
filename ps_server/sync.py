"""Synchronous steps: collect every replica's contribution, apply the mean once, answer all.

A round is keyed by the step number. Contributions wait on the round's future;
the last to arrive applies the step (off the event loop, via ``apply``) and
wakes the others, so every contributor's reply means "step applied".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from services.errors import FailedPrecondition, InvalidArgument


@dataclass
class _Round:
    replicas: int
    contributions: list = field(default_factory=list)
    end_of_data: bool = False
    done: asyncio.Future | None = None


class SyncRounds:
    """Rounds of one kind of update (sparse or dense) on one PS."""

    def __init__(self, kind: str, apply: Callable[[list[Any]], Awaitable[Any]]):
        self.kind = kind
        self._apply = apply
        self._rounds: dict[int, _Round] = {}
        self._last_applied = -1
        self.stopped_at: int | None = None

    async def contribute(self, step: int, replicas: int, contribution: Any,
                         end_of_data: bool) -> tuple[Any, bool]:
        """Adds one replica's contribution to ``step``; returns (the step's result, stop)."""
        if replicas < 1:
            raise InvalidArgument(f"sync_replicas must be >= 1, got {replicas}")
        if step < 0:
            raise InvalidArgument(f"global_step must be >= 0, got {step}")
        if self.stopped_at is not None and step > self.stopped_at:
            return None, True
        current = self._rounds.get(step)
        if current is None:
            if step <= self._last_applied:
                raise FailedPrecondition(
                    f"{self.kind} step {step} was already applied (last applied step: "
                    f"{self._last_applied})")
            current = self._rounds[step] = _Round(
                replicas, done=asyncio.get_running_loop().create_future())
        elif current.replicas != replicas:
            raise FailedPrecondition(
                f"{self.kind} step {step}: sync_replicas {replicas} differs from the "
                f"{current.replicas} of the other contributors")
        current.contributions.append(contribution)
        current.end_of_data |= end_of_data
        if len(current.contributions) == current.replicas:
            del self._rounds[step]
            self._last_applied = max(self._last_applied, step)
            if current.end_of_data:
                self.stopped_at = step
            try:
                result = await self._apply(current.contributions)
            except BaseException as exc:
                current.done.set_exception(exc)
                raise
            current.done.set_result(result)
        result = await asyncio.shield(current.done)
        return result, current.end_of_data
