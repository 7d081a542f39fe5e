"""``select``: Monolith's ps_benchmark: measure every PS, keep the fastest hosts.

Each PS is measured alone for ``benchmark_secs`` (training steps: a pull
then a push of one request) and scored in rows/s. Scores are then adjusted
by host the way Monolith does it: going from the slowest PS to the fastest,
each PS adds the scores of the slower PS on its IP, so the fastest PS of a
host carries the sum of its host. The ``num_ps_required`` best adjusted
scores win (ties: the later PS in ``ps_list`` first, as in Monolith). A
non-empty ``ps_str_overridden`` skips all this and is the answer as is.

Worker ``index`` 0 (the chief) measures and publishes; the others wait for
the chief's published list.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.files import write_bytes_atomic as write_atomic
from services.security import SecurityConfig
from worker.benchmark.attach import discover_tables
from worker.benchmark.config import (
    Backend,
    Direction,
    Operation,
    WorkloadConfig,
    check_address,
)
from worker.benchmark.driver import ClientPool
from worker.benchmark.progress import Progress
from worker.benchmark.types import BenchmarkError, ClientSpec, Target


@dataclass(frozen=True)
class BenchmarkConfig:
    """Monolith's BenchmarkConfig: ``ps_list`` to choose from, how many to keep, which
    worker this is of how many, seconds per PS, and an override list ("a:1,b:2")."""

    ps_list: tuple[str, ...]
    num_ps_required: int
    num_workers: int
    index: int
    benchmark_secs: float = 60.0
    ps_str_overridden: str = ""

    def __post_init__(self):
        object.__setattr__(self, "ps_list", tuple(self.ps_list))
        if not isinstance(self.ps_str_overridden, str):
            raise ValueError(f"ps_str_overridden: got {self.ps_str_overridden!r}, must be a str")
        if self.ps_str_overridden and not all(self.overridden()):
            raise ValueError(f"ps_str_overridden: got {self.ps_str_overridden!r}, "
                             "must be comma-separated names without empty entries")
        if not self.ps_str_overridden and not self.ps_list:
            raise ValueError("ps_list: empty, give PS addresses (or ps_str_overridden)")
        if len(set(self.ps_list)) != len(self.ps_list):
            raise ValueError(f"ps_list: got {','.join(self.ps_list)}, addresses must be distinct")
        for name, low in (("num_ps_required", 1), ("num_workers", 1), ("index", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name}: got {value!r}, must be an integer >= {low}")
        if self.ps_list and self.num_ps_required > len(self.ps_list):
            raise ValueError(f"num_ps_required: got {self.num_ps_required}, must be <= "
                             f"the {len(self.ps_list)} PS of ps_list")
        if self.index >= self.num_workers:
            raise ValueError(f"index: got {self.index}, must be < num_workers "
                             f"({self.num_workers})")
        secs = self.benchmark_secs
        if isinstance(secs, bool) or not isinstance(secs, (int, float)) or not (
                math.isfinite(secs) and secs > 0):
            raise ValueError(f"benchmark_secs: got {secs!r}, must be seconds > 0")

    def overridden(self) -> list[str]:
        """The override list, or [] when the benchmark should run."""
        return self.ps_str_overridden.split(",") if self.ps_str_overridden else []


def host_of(address: str) -> str:
    """The IP (or host name) of ``host:port``; a name without a port is its own host."""
    host, sep, _ = address.rpartition(":")
    return host if sep else address


def adjusted_scores(ps_list: tuple[str, ...], throughputs: list[float]) -> list[tuple[float, int]]:
    """(adjusted score, index into ps_list), best first, as Monolith ranks them."""
    if len(throughputs) != len(ps_list):
        raise ValueError(f"throughputs: {len(throughputs)} values for {len(ps_list)} PS")
    running: dict[str, float] = {}
    scored = []
    for i in sorted(range(len(ps_list)), key=lambda i: (throughputs[i], i)):
        host = host_of(ps_list[i])
        running[host] = running.get(host, 0.0) + throughputs[i]
        scored.append((running[host], i))
    return sorted(scored, reverse=True)


def select_top(ps_list: tuple[str, ...], throughputs: list[float], count: int) -> list[str]:
    """The ``count`` PS with the best adjusted scores, best first."""
    return [ps_list[i] for _, i in adjusted_scores(ps_list, throughputs)[:count]]


@dataclass(frozen=True)
class MeasureSettings:
    """How each PS is measured: the requests, requests in flight, and planted per-address
    delays ((address, seconds), ...) that only tests use; TLS and token of the PS."""

    workload: WorkloadConfig = WorkloadConfig(batch_size=16384)
    in_flight: int = 2
    delays_s: tuple[tuple[str, float], ...] = ()
    security: SecurityConfig | None = None

    def __post_init__(self):
        object.__setattr__(self, "delays_s", tuple(tuple(d) for d in self.delays_s))
        if not isinstance(self.in_flight, int) or not 1 <= self.in_flight <= 1024:
            raise ValueError(f"in_flight: got {self.in_flight!r}, must be in 1..1024")
        for address, delay in self.delays_s:
            check_address(address, "delay")
            if not (isinstance(delay, (int, float)) and math.isfinite(delay) and delay >= 0):
                raise ValueError(f"delay of {address}: got {delay!r}, must be seconds >= 0")


Measure = Callable[[tuple[str, ...], float, MeasureSettings, Progress | None], list[float]]


def measure_throughputs(ps_list: tuple[str, ...], seconds: float, settings: MeasureSettings,
                        progress: Progress | None = None) -> list[float]:
    """Rows/s of training steps against each PS alone, one PS after another."""
    delays = dict(settings.delays_s)
    targets = tuple(
        Target((a,), discover_tables((a,), settings.workload.tables, settings.security),
               delays.get(a, 0.0), settings.security)
        for a in ps_list)
    pool = ClientPool([ClientSpec(0, targets, settings.workload, settings.in_flight)])
    step = Operation(Backend.PS, Direction.STEP)
    try:
        out = []
        for i in range(len(targets)):
            if progress is not None:
                progress.phase(ps_list[i])
            pool.prepare(i)
            results = pool.run(i, step, seconds, None if progress is None else progress.tick)
            out.append(sum(r.rows for r in results) / seconds)
        return out
    finally:
        pool.close()


def select_ps(config: BenchmarkConfig, settings: MeasureSettings = MeasureSettings(),
              measure: Measure = measure_throughputs,
              report: Callable[[str], None] | None = None,
              progress: Progress | None = None) -> list[str]:
    """The PS to train with: the override list, or the best ``num_ps_required`` measured."""
    if config.ps_str_overridden:
        return config.overridden()
    throughputs = measure(config.ps_list, float(config.benchmark_secs), settings, progress)
    if report is not None:
        scores = dict((i, s) for s, i in adjusted_scores(config.ps_list, throughputs))
        for i, address in enumerate(config.ps_list):
            report(f"{address}: {throughputs[i]:,.0f} rows/s, adjusted by host "
                   f"{host_of(address)}: {scores[i]:,.0f}")
    return select_top(config.ps_list, throughputs, config.num_ps_required)


def publish(path: str | Path, selected: list[str]) -> None:
    """Writes the comma-separated list atomically (temp file, fsync, rename)."""
    write_atomic(path, (",".join(selected) + "\n").encode("utf-8"))


def wait_published(path: str | Path, timeout_s: float, poll_s: float = 0.5) -> list[str]:
    """The list the chief published at ``path``, waiting up to ``timeout_s`` for it."""
    deadline = time.monotonic() + timeout_s
    target = Path(path)
    while True:
        try:
            text = target.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            text = ""
        if text:
            return text.split(",")
        if time.monotonic() >= deadline:
            raise BenchmarkError(f"no PS list published at {target} within {timeout_s:g} s")
        time.sleep(poll_s)
