"""Figures of a window: percentiles, timeline, pooled throughput, ratios."""

import numpy as np
import pytest

from worker.benchmark.config import Backend, Direction, Operation
from worker.benchmark.stats import percentile_ms, ratios, summarize, timeline
from worker.benchmark.types import PhaseResult

PULL = Operation(Backend.PS, Direction.PULL)


def test_percentiles_in_milliseconds():
    latency = np.arange(1, 101, dtype=np.float64) / 1e3
    assert percentile_ms(latency, 50) == pytest.approx(50.5)
    assert percentile_ms(latency, 99) == pytest.approx(99.01)
    assert percentile_ms(np.zeros(0), 50) is None


def test_timeline_counts_rows_per_slice():
    done = np.array([0.05, 0.1, 0.15, 0.6, 0.99])
    mids, rates = timeline(done, rows_per_request=10, seconds=1.0, bins=2)
    assert mids == [0.25, 0.75]
    assert rates == [60.0, 40.0]


def _result(client, n, rows=100, nbytes=1000):
    return PhaseResult(client, PULL, rows, nbytes * n, np.full(n, 0.002), np.linspace(0, 1.9, n))


def test_summary_pools_clients():
    s = summarize(PULL, [_result(0, 10), _result(1, 30)], seconds=2.0, server_cpu_s=0.5,
                  client_cpu_s=1.0)
    assert s.requests == 40 and s.rows == 4000
    assert s.rows_per_s == 2000.0
    assert s.mb_per_s == pytest.approx(40 * 1000 / 2.0 / 1e6)
    assert s.latency_p50_ms == pytest.approx(2.0)
    assert s.server_cpu_s_per_mrows == pytest.approx(0.5 / 0.004)
    assert s.client_cpu_s_per_mrows == pytest.approx(1.0 / 0.004)
    assert sum(s.timeline_rows_per_s) * (2.0 / len(s.timeline_s)) == pytest.approx(4000)


def test_summary_without_server_cpu_or_requests():
    s = summarize(PULL, [_result(0, 0)], seconds=1.0, server_cpu_s=None, client_cpu_s=0.1)
    assert s.server_cpu_s_per_mrows is None and s.client_cpu_s_per_mrows is None
    assert s.latency_p50_ms is None and s.rows_per_s == 0


def test_ratios_divide_the_ps_by_each_baseline():
    def stats(backend, direction, rows):
        op = Operation(backend, direction)
        return op.name, summarize(op, [_result(0, rows)], 1.0, None, 0.0)

    table = dict([stats(Backend.PS, Direction.PULL, 5), stats(Backend.TRANSFER, Direction.PULL, 10),
                  stats(Backend.REDIS, Direction.PULL, 1), stats(Backend.PS, Direction.PUSH, 4),
                  stats(Backend.TRANSFER, Direction.PUSH, 0)])
    r = ratios(table)
    assert r["pull"] == {"transfer": 0.5, "redis": 5.0}
    assert r["push"] == {"transfer": None}
