"""Barrier: stop/resume errors, waiters block while it stands and are listed."""

import asyncio

import pytest

from services.controller.barrier import Barrier
from services.errors import AlreadyExists, FailedPrecondition


def test_stop_twice_and_resume_without_stop_are_refused():
    async def body():
        barrier = Barrier()
        with pytest.raises(FailedPrecondition, match="not stopped"):
            barrier.resume()
        barrier.stop()
        assert barrier.stopped
        with pytest.raises(AlreadyExists, match="already stopped"):
            barrier.stop()
        barrier.resume()
        assert not barrier.stopped

    asyncio.run(body())


def test_waiters_block_while_stopped_and_are_released_by_resume():
    async def body():
        barrier = Barrier()
        await asyncio.wait_for(barrier.wait(0), 5)  # open: returns at once
        assert barrier.blocked() == []
        barrier.stop()
        waiters = [asyncio.create_task(barrier.wait(i)) for i in (2, 0)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert barrier.blocked() == [0, 2]
        assert not any(w.done() for w in waiters)
        barrier.resume()
        await asyncio.wait_for(asyncio.gather(*waiters), 5)
        assert barrier.blocked() == []

    asyncio.run(body())


def test_a_cancelled_waiter_is_no_longer_listed():
    async def body():
        barrier = Barrier()
        barrier.stop()
        waiter = asyncio.create_task(barrier.wait(1))
        await asyncio.sleep(0)
        assert barrier.blocked() == [1]
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert barrier.blocked() == []

    asyncio.run(body())
