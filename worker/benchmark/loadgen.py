"""A benchmark client process: requests in flight against one target, timed in windows.

``client_main`` is the entry of a process started with multiprocessing's
spawn context. It answers the parent's commands over a pipe: PREPARE
connects to a target and warms it up (every request of the pool pushed once,
so pulls read real rows; Redis populated), RUN issues one operation from
``in_flight`` concurrent lanes during a window shared by every client, STOP
ends the process. Any error goes back as one ``Failure`` line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import numpy as np

from worker.benchmark.config import Backend, Direction, Operation
from worker.benchmark.transfer import TransferClient, exchanges
from worker.benchmark.types import (
    ClientSpec,
    Command,
    CommandKind,
    Failure,
    PhaseResult,
    Ready,
    Target,
)
from worker.benchmark.workload import build_pool
from worker.client import AsyncPSClient

Step = Callable[[int], Awaitable[None]]


class Session:
    """Connections to one target and the prepared requests of this client."""

    def __init__(self, spec: ClientSpec, target: Target):
        self.spec = spec
        self.target = target
        self.pool = build_pool(spec.workload, tuple(t.dim for t in target.tables), spec.index)
        names = [t.name for t in target.tables]
        self.ids = [dict(zip(names, batch)) for batch in self.pool.ids]
        self.grads = dict(zip(names, self.pool.grads))
        self.rows_per_request = spec.workload.batch_size * len(names)
        self.client = AsyncPSClient(list(target.addresses), timeout_s=120.0,
                                    security=target.security)
        # request ids are distinct by construction: the client skips its dedup pass
        self.transfer = None
        self.redis = None
        self.bytes: dict[Operation, int] = {}

    async def prepare(self) -> None:
        for ids in self.ids:
            await self.client.push(ids, self.grads)
        for ids in self.ids:
            await self.client.pull(ids)
        self.transfer = TransferClient(self.target.addresses, security=self.target.security)
        for direction in (Direction.PULL, Direction.PUSH):
            plan = exchanges(self.target, self.pool.ids, self.pool.grads, direction)
            moved = self.transfer.prepare(direction, plan)
            for backend in (Backend.PS, Backend.TRANSFER, Backend.TRANSFER_PROTO):
                self.bytes[Operation(backend, direction)] = moved
            await self.transfer.call(direction, proto=False)
            await self.transfer.call(direction, proto=True)
        self.bytes[Operation(Backend.PS, Direction.STEP)] = sum(
            self.bytes[Operation(Backend.PS, d)] for d in (Direction.PULL, Direction.PUSH))
        if self.spec.redis is not None:
            from worker.benchmark.redis_store import RedisStore  # redis-py is optional

            self.redis = RedisStore(self.spec.redis, self.target.tables, self.pool,
                                    self.spec.in_flight)
            await asyncio.get_running_loop().run_in_executor(None, self.redis.populate)
            for direction in (Direction.PULL, Direction.PUSH):
                self.bytes[Operation(Backend.REDIS, direction)] = self.redis.request_bytes(
                    push=direction is Direction.PUSH)

    def step(self, op: Operation) -> Step:
        """The coroutine function issuing request k of ``op``."""
        backend, direction = op.backend, op.direction
        delay = self.target.delay_s
        if backend is Backend.PS:
            async def ps_step(k: int) -> None:
                if direction is not Direction.PUSH:
                    await self.client.pull(self.ids[k], dedup=False)
                if direction is not Direction.PULL:
                    await self.client.push(self.ids[k], self.grads, dedup=False)
                if delay:
                    await asyncio.sleep(delay)
            return ps_step
        if direction is Direction.STEP:
            raise ValueError(f"{backend.value}: no step operation, only pull and push")
        if backend is Backend.REDIS:
            if self.redis is None:
                raise ValueError("redis: no redis-server address was given to this client")
            return self.redis.pull if direction is Direction.PULL else self.redis.push
        proto = backend is Backend.TRANSFER_PROTO

        async def transfer_step(k: int) -> None:
            await self.transfer.call(direction, proto)
        return transfer_step

    async def close(self) -> None:
        await self.client.close()
        if self.transfer is not None:
            await self.transfer.close()
        if self.redis is not None:
            self.redis.close()


async def run_window(step: Step, requests: int, in_flight: int, start_at: float,
                     warmup_s: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Issues ``step(k)`` from ``in_flight`` lanes (k cycling over ``requests``) from
    monotonic ``start_at``; after ``warmup_s`` a window of ``seconds`` opens. Returns
    (latency_s, done_s) of the requests that completed inside the window, (k,) float64
    each, so the window sees steady load from its first instant to its last."""
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    t0 = start_at + warmup_s
    end = t0 + seconds
    latency: list[float] = []
    done: list[float] = []

    async def lane(k: int) -> None:
        while (t := time.monotonic()) < end:
            await step(k % requests)
            t1 = time.monotonic()
            if t0 <= t1 <= end:
                latency.append(t1 - t)
                done.append(t1 - t0)
            k += in_flight

    await asyncio.gather(*(lane(j) for j in range(in_flight)))
    return np.asarray(latency, dtype=np.float64), np.asarray(done, dtype=np.float64)


async def _serve(conn, spec: ClientSpec) -> None:
    sessions: dict[int, Session] = {}
    try:
        while True:
            command: Command = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            if command.kind is CommandKind.STOP:
                return
            if command.kind is CommandKind.PREPARE:
                if command.target not in sessions:
                    sessions[command.target] = Session(spec, spec.targets[command.target])
                    await sessions[command.target].prepare()
                conn.send(Ready(spec.index))
                continue
            session = sessions[command.target]
            op = command.operation
            latency, done = await run_window(session.step(op), len(session.pool),
                                             spec.in_flight, command.start_at,
                                             command.warmup_s, command.seconds)
            conn.send(PhaseResult(spec.index, op, session.rows_per_request,
                                  session.bytes[op] * int(done.shape[0]), latency, done))
    except Exception as exc:  # the parent reports it; a traceback here would be noise
        conn.send(Failure(spec.index, f"{type(exc).__name__}: {exc}"))
    finally:
        for session in sessions.values():
            await session.close()


def client_main(conn, spec: ClientSpec) -> None:
    """Entry of a spawned client process."""
    try:
        asyncio.run(_serve(conn, spec))
    except KeyboardInterrupt:
        pass
    finally:
        conn.close()
