"""Tables, JSON documents and charts of runs and sweeps, from synthetic figures."""

import json

import numpy as np

from worker.benchmark.config import LocalPS, RunConfig, SweepConfig
from worker.benchmark.plot import plot_run, plot_sweep
from worker.benchmark.report import run_document, run_table
from worker.benchmark.runner import RunResult
from worker.benchmark.stats import ratios, summarize
from worker.benchmark.sweep import AXES, SweepResult, sweep_document, sweep_table
from worker.benchmark.types import PhaseResult, TableSpec

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _result(config: RunConfig, rows_per_s: dict[str, float]) -> RunResult:
    stats = {}
    for op in config.operations():
        n = int(rows_per_s.get(op.backend.value, 1.0) * 10)
        phase = PhaseResult(0, op, 100, 1000 * n, np.full(n, 0.01), np.linspace(0, 0.99, n))
        cpu = None if config.attached and op.backend.value != "redis" else 0.2
        stats[op.name] = summarize(op, [phase], 1.0, cpu, 0.1)
    return RunResult(config, ("127.0.0.1:1",), (TableSpec("t0", 16),), stats, ratios(stats),
                     "2026-01-01T00:00:00+00:00", 3.0)


def test_run_table_and_document():
    result = _result(RunConfig(seconds=8.0), {"ps": 5, "transfer": 10, "transfer_proto": 8,
                                              "redis": 1})
    text = run_table(result)
    assert "1 PS started, adagrad" in text and "1 s per operation" in text
    assert "ps pull" in text and "transfer proto push" in text
    assert text.splitlines()[-2].split() == ["pull", "0.50", "0.62", "5.00"]
    doc = json.loads(json.dumps(run_document(result, {"cores": 2})))
    assert doc["config"]["baselines"] == ["transfer", "transfer_proto", "redis"]
    assert doc["ratios"]["push"]["redis"] == 5.0
    assert doc["operations"]["ps_pull"]["rows_per_s"] == 5000.0


def test_attached_run_says_na():
    config = RunConfig(local=None, ps=("127.0.0.1:1",), seconds=4.0)
    assert "n/a" in run_table(_result(config, {}))


def test_run_and_sweep_charts_are_pngs(tmp_path):
    result = _result(RunConfig(seconds=8.0), {"ps": 5, "transfer": 10})
    plot_run(result.stats, "title", tmp_path / "run.png")
    assert (tmp_path / "run.png").read_bytes()[:8] == PNG_SIGNATURE
    base = RunConfig(local=LocalPS(), seconds=2.0)
    sweep = SweepResult(SweepConfig(base, batch_sizes=(65536,), dims=(16,), num_ps=(1, 2)), (
        ({"batch_size": 65536, "dim": 16, "num_ps": 1}, result),
        ({"batch_size": 65536, "dim": 16, "num_ps": 2}, _result(base, {"ps": 4}))))
    assert len(sweep_table(sweep).splitlines()) == 3
    doc = json.loads(json.dumps(sweep_document(sweep, {})))
    assert [p["grid"]["num_ps"] for p in doc["points"]] == [1, 2]
    plot_sweep(sweep.points(), list(AXES), tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes()[:8] == PNG_SIGNATURE
