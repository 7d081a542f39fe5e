"""The stop/resume barrier workers wait at between steps."""

from __future__ import annotations

import asyncio

from services.errors import AlreadyExists, FailedPrecondition


class Barrier:
    """Stands after ``stop()`` until ``resume()``; ``wait(i)`` blocks worker i meanwhile."""

    def __init__(self):
        self._open = asyncio.Event()
        self._open.set()
        self._blocked: set[int] = set()

    @property
    def stopped(self) -> bool:
        return not self._open.is_set()

    def stop(self) -> None:
        if self.stopped:
            raise AlreadyExists("training is already stopped (the barrier stands)")
        self._open.clear()

    def resume(self) -> None:
        if not self.stopped:
            raise FailedPrecondition("training is not stopped: there is no barrier to lift")
        self._open.set()

    async def wait(self, index: int) -> None:
        self._blocked.add(index)
        try:
            await self._open.wait()
        finally:
            self._blocked.discard(index)

    def blocked(self) -> list[int]:
        return sorted(self._blocked)
