"""Client processes of a benchmark, seen from the parent: start, command, collect, stop.

Clients are started with multiprocessing's spawn context (gRPC does not
survive a fork) and talk over pipes. A window opens at the same monotonic
instant in every client, so their requests overlap as they would in training.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.connection import wait

from worker.benchmark.config import Operation
from worker.benchmark.loadgen import client_main
from worker.benchmark.types import (
    BenchmarkError,
    ClientSpec,
    Command,
    CommandKind,
    Failure,
    PhaseResult,
    Ready,
)

_START_LEAD_S = 0.1
_MAX_WARMUP_S = 1.0
_PREPARE_TIMEOUT_S = 600.0
_DRAIN_S = 120.0
_JOIN_S = 10.0

Tick = Callable[[float], None]


class ClientPool:
    """``len(specs)`` client processes; stopped by ``close`` (STOP, then SIGTERM by PID)."""

    def __init__(self, specs: list[ClientSpec]):
        ctx = multiprocessing.get_context("spawn")
        self._procs = []
        self._conns = []
        try:
            for spec in specs:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=client_main, args=(child, spec), daemon=True,
                                   name=f"ps-benchmark-client-{spec.index}")
                proc.start()
                child.close()
                self._procs.append(proc)
                self._conns.append(parent)
        except BaseException:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def prepare(self, target: int, tick: Tick | None = None) -> None:
        """Every client connects to ``target`` and warms it up."""
        self._send(Command(CommandKind.PREPARE, target))
        self._collect(Ready, time.monotonic() + _PREPARE_TIMEOUT_S, tick)

    def run(self, target: int, operation: Operation, seconds: float,
            tick: Tick | None = None) -> list[PhaseResult]:
        """Measures ``operation`` on ``target`` in one window of ``seconds`` in every client,
        after a warm-up of a tenth of that (at most a second) under the same load."""
        warmup_s = min(_MAX_WARMUP_S, seconds / 10)
        start_at = time.monotonic() + _START_LEAD_S
        self._send(Command(CommandKind.RUN, target, operation, start_at, warmup_s, seconds))
        opens = start_at + warmup_s

        def progress(now: float) -> None:
            if tick is not None:
                tick(min(seconds, max(0.0, now - opens)))

        results = self._collect(PhaseResult, opens + seconds + _DRAIN_S, progress)
        if tick is not None:
            tick(seconds)
        return results

    def _send(self, command: Command) -> None:
        for conn in self._conns:
            conn.send(command)

    def _collect(self, kind: type, deadline: float, tick: Tick | None) -> list:
        replies: dict[int, object] = {}
        pending = dict(enumerate(self._conns))
        while pending:
            now = time.monotonic()
            if now > deadline:
                raise BenchmarkError(f"clients {sorted(pending)} did not answer in time")
            if tick is not None:
                tick(now)
            sentinels = {self._procs[i].sentinel: i for i in pending}
            for ready in wait([*pending.values(), *sentinels], timeout=0.1):
                i = sentinels.get(ready)
                if i is None:
                    i = self._conns.index(ready)
                if i not in pending:
                    continue
                try:
                    reply = self._conns[i].recv()
                except EOFError:
                    raise self._died(i) from None
                if isinstance(reply, Failure):
                    raise BenchmarkError(f"client {reply.client}: {reply.message}")
                if not isinstance(reply, kind):
                    raise BenchmarkError(f"client {i}: unexpected reply {type(reply).__name__}")
                replies[i] = reply
                del pending[i]
        return [replies[i] for i in sorted(replies)]

    def _died(self, i: int) -> BenchmarkError:
        self._procs[i].join(_JOIN_S)
        return BenchmarkError(f"client {i} (pid {self._procs[i].pid}) exited with status "
                              f"{self._procs[i].exitcode} before answering")

    def close(self) -> None:
        """Asks every client to stop, then stops stragglers by PID."""
        for conn in self._conns:
            try:
                conn.send(Command(CommandKind.STOP))
            except (BrokenPipeError, OSError):
                pass
        for proc in self._procs:
            proc.join(_JOIN_S)
            if proc.is_alive():
                proc.terminate()
                proc.join(_JOIN_S)
        for conn in self._conns:
            conn.close()
        self._procs, self._conns = [], []
