"""``ps-benchmark``: PS throughput beside transport and Redis baselines; Monolith's PS selection."""

from worker.benchmark.config import (
    Backend,
    Direction,
    LocalPS,
    RunConfig,
    SweepConfig,
    WorkloadConfig,
)
from worker.benchmark.select import BenchmarkConfig, select_ps

__all__ = [
    "Backend",
    "BenchmarkConfig",
    "Direction",
    "LocalPS",
    "RunConfig",
    "SweepConfig",
    "WorkloadConfig",
    "select_ps",
]
