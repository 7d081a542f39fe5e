"""``run``: PS Pull and Push measured beside their baselines, side by side in one run.

Starts (or attaches to) the PS, starts a redis-server when Redis is a
baseline, then measures every operation in turn from the same client
processes, reading the CPU time of every process it started around each
window.
"""

from __future__ import annotations

import contextlib
import datetime
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.benchmark.attach import discover_tables
from worker.benchmark.config import Backend, RunConfig
from worker.benchmark.driver import ClientPool
from worker.benchmark.progress import Progress
from worker.benchmark.servers import (
    ServerProcess,
    cpu_seconds,
    launch_ps,
    local_tables,
    start_redis,
    stop_all,
    wait_serving,
)
from worker.benchmark.stats import OpStats, ratios, summarize
from worker.benchmark.types import ClientSpec, TableSpec, Target
from worker.benchmark.workload import unique_batch


@dataclass(frozen=True)
class RunResult:
    """Every figure of one run; ``stats`` by operation name in measuring order."""

    config: RunConfig
    addresses: tuple[str, ...]
    tables: tuple[TableSpec, ...]
    stats: dict[str, OpStats]
    ratios: dict[str, dict[str, float | None]]
    started_at: str
    wall_s: float

    @property
    def ps_started(self) -> bool:
        return not self.config.attached


def check_workload(config: RunConfig) -> None:
    """Fails early (ValueError) when the Zipf stream cannot fill one request."""
    w = config.workload
    unique_batch(np.random.default_rng(w.seed), w.batch_size, w.vocab, w.zipf)


def _total_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def run_benchmark(config: RunConfig, progress: Progress | None = None) -> RunResult:
    """Runs ``config`` and returns its figures; BenchmarkError when a process fails.

    Client processes start while the PS processes start, so their imports overlap.
    """
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ps-benchmark-")))
        ps: list[ServerProcess] = []
        stack.callback(lambda: stop_all(ps))
        if config.local is not None:
            ps += launch_ps(config.local, tmp)
            addresses = tuple(s.address for s in ps)
            tables = local_tables(config.local)
        else:
            addresses = config.ps
            tables = discover_tables(addresses, config.workload.tables, config.security)
        redis = None
        if Backend.REDIS in config.baselines:
            redis = start_redis(tmp)
            stack.callback(redis.stop)
        target = Target(addresses, tables, security=config.security)
        pool = ClientPool([ClientSpec(i, (target,), config.workload, config.in_flight,
                                      None if redis is None else redis.address)
                           for i in range(config.clients)])
        stack.callback(pool.close)
        if progress is not None:
            progress.phase("starting servers and clients, warming up")
        wait_serving(ps)
        pool.prepare(0)
        stats = _measure(config, pool, ps, redis, progress)
    return RunResult(config, addresses, tables, stats, ratios(stats), started_at,
                     time.monotonic() - t0)


def _measure(config: RunConfig, pool: ClientPool, ps: list[ServerProcess],
             redis: ServerProcess | None, progress: Progress | None) -> dict[str, OpStats]:
    stats: dict[str, OpStats] = {}
    seconds = config.seconds_per_operation
    for op in config.operations():
        servers = [redis.pid] if op.backend is Backend.REDIS else [s.pid for s in ps]
        if progress is not None:
            progress.phase(op.name.replace("_", " "))
        server_cpu, client_cpu = _total_cpu(servers), _total_cpu(pool.pids)
        results = pool.run(0, op, seconds, None if progress is None else progress.tick)
        server_cpu = _total_cpu(servers) - server_cpu if servers else None
        client_cpu = _total_cpu(pool.pids) - client_cpu
        stats[op.name] = summarize(op, results, seconds, server_cpu, client_cpu)
    return stats
