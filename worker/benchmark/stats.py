"""Figures of a measured operation: throughput, latency percentiles, CPU cost, timeline, ratios."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from worker.benchmark.config import Backend, Direction, Operation
from worker.benchmark.types import PhaseResult

TIMELINE_BINS = 20


def percentile_ms(latency_s: np.ndarray, q: float) -> float | None:
    """The q-th percentile (0..100, linear interpolation) in milliseconds; None if empty."""
    if latency_s.size == 0:
        return None
    return float(np.percentile(latency_s, q)) * 1e3


def timeline(done_s: np.ndarray, rows_per_request: int, seconds: float,
             bins: int = TIMELINE_BINS) -> tuple[list[float], list[float]]:
    """Rows/s in ``bins`` equal slices of the window: (slice midpoints s, rows/s)."""
    edges = np.linspace(0.0, seconds, bins + 1)
    counts, _ = np.histogram(done_s, bins=edges)
    width = seconds / bins
    mids = (edges[:-1] + width / 2).tolist()
    return mids, (counts * rows_per_request / width).tolist()


@dataclass(frozen=True)
class OpStats:
    """One operation over all clients. ``server_cpu_s_per_mrows``: CPU seconds of the
    serving processes (PS, or redis-server) per million rows, None when not ours to read."""

    operation: str
    backend: str
    direction: str
    seconds: float
    requests: int
    rows: int
    rows_per_s: float
    mb_per_s: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    server_cpu_s_per_mrows: float | None
    client_cpu_s_per_mrows: float
    timeline_s: list[float]
    timeline_rows_per_s: list[float]

    def to_dict(self) -> dict:
        return asdict(self)


def _per_mrows(cpu_s: float | None, rows: int) -> float | None:
    if cpu_s is None or rows == 0:
        return None
    return cpu_s / (rows / 1e6)


def summarize(op: Operation, results: list[PhaseResult], seconds: float,
              server_cpu_s: float | None, client_cpu_s: float) -> OpStats:
    """Pools the clients' results of one window of ``seconds``."""
    latency = np.concatenate([r.latency_s for r in results])
    done = np.concatenate([r.done_s for r in results])
    rows = sum(r.rows for r in results)
    mids, rates = timeline(done, results[0].rows_per_request, seconds)
    return OpStats(
        operation=op.name, backend=op.backend.value, direction=op.direction.value,
        seconds=seconds, requests=int(done.shape[0]), rows=rows, rows_per_s=rows / seconds,
        mb_per_s=sum(r.bytes for r in results) / seconds / 1e6,
        latency_p50_ms=percentile_ms(latency, 50), latency_p99_ms=percentile_ms(latency, 99),
        server_cpu_s_per_mrows=_per_mrows(server_cpu_s, rows),
        client_cpu_s_per_mrows=_per_mrows(client_cpu_s, rows),
        timeline_s=mids, timeline_rows_per_s=rates)


def ratios(stats: dict[str, OpStats]) -> dict[str, dict[str, float | None]]:
    """PS rows/s over each baseline's, per direction: ``{"pull": {"transfer": 0.5, ...}}``."""
    out: dict[str, dict[str, float | None]] = {}
    for direction in (Direction.PULL, Direction.PUSH):
        ps = stats.get(Operation(Backend.PS, direction).name)
        row: dict[str, float | None] = {}
        for backend in (Backend.TRANSFER, Backend.TRANSFER_PROTO, Backend.REDIS):
            base = stats.get(Operation(backend, direction).name)
            if ps is not None and base is not None:
                row[backend.value] = ps.rows_per_s / base.rows_per_s if base.rows_per_s else None
        out[direction.value] = row
    return out
