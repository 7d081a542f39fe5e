import json

import pytest

from services.launcher.records import ProgressReader, TrainingResult, total_steps


def _line(**fields) -> str:
    return json.dumps(fields) + "\n"


def test_reader_follows_appends_and_waits_for_a_complete_line(tmp_path):
    path = tmp_path / "worker-0.jsonl"
    path.write_text(_line(step=5, examples=640, loss=0.7, time=100.0))
    reader = ProgressReader(tmp_path)
    assert reader.poll().steps == 5
    with open(path, "a") as f:
        f.write('{"step": 10, "examples": 1280, "loss": 0.6, "ti')
    progress = reader.poll()
    assert progress.steps == 5 and len(progress.losses) == 1
    with open(path, "a") as f:
        f.write('me": 102.0}\n')
    progress = reader.poll()
    assert progress.steps == 10
    assert progress.examples == 1280
    assert [p.step for p in progress.losses] == [5, 10]


def test_reader_sums_workers_and_keeps_evals(tmp_path):
    (tmp_path / "worker-0.jsonl").write_text(
        _line(step=10, examples=1000, loss=0.6, time=10.0)
        + _line(step=10, eval_auc=0.71, eval_logloss=0.5, time=10.5)
        + _line(step=30, examples=3000, loss=0.4, time=12.0))
    (tmp_path / "worker-1.jsonl").write_text(
        _line(step=20, examples=2000, loss=0.5, time=11.0)
        + _line(step=40, examples=4000, loss=0.3, time=13.0))
    (tmp_path / "notes.jsonl").write_text(_line(step=999, examples=1, loss=0.0, time=1.0))
    progress = ProgressReader(tmp_path).poll()
    assert progress.steps == 70
    assert progress.examples == 7000
    assert progress.last_loss == pytest.approx(0.35)
    assert progress.last_auc == 0.71
    assert [(e.worker, e.step, e.logloss) for e in progress.evals] == [(0, 10, 0.5)]
    steps_per_s, examples_per_s = progress.rates()
    assert steps_per_s == pytest.approx(20 / 2 + 20 / 2)
    assert examples_per_s == pytest.approx(2000 / 2 + 2000 / 2)


def test_reader_skips_bad_lines_and_missing_dir(tmp_path):
    assert ProgressReader(tmp_path / "absent").poll().steps == 0
    (tmp_path / "worker-3.jsonl").write_text(
        "not json\n[1, 2]\n" + _line(step="x") + _line(examples=3) + "\n"
        + _line(step=4, examples=8, loss=float("nan"), time=1.0))
    progress = ProgressReader(tmp_path).poll()
    assert progress.skipped_lines == 4
    assert progress.steps == 4
    assert progress.rates() is None


def test_result_load(tmp_path):
    path = tmp_path / "result.json"
    assert TrainingResult.load(path) is None
    path.write_text("[1]")
    assert TrainingResult.load(path) is None
    path.write_text("{broken")
    assert TrainingResult.load(path) is None
    path.write_text(json.dumps({"steps": 200, "examples": 51200, "elapsed_s": 2, "eval_auc": 0.7,
                                "bayes_auc": 0.78, "mode": "sync", "calibration": "high"}))
    result = TrainingResult.load(path)
    assert (result.steps, result.examples, result.elapsed_s) == (200, 51200, 2.0)
    assert (result.eval_auc, result.bayes_auc, result.mode) == (0.7, 0.78, "sync")
    assert result.calibration is None and result.baseline_auc is None


def test_total_steps(tmp_path):
    path = tmp_path / "config.json"
    assert total_steps(path, 2) is None
    path.write_text(json.dumps({"train": {"steps": 50, "batch_size": 8}}))
    assert total_steps(path, 3) == 150
    path.write_text(json.dumps({"train": {}}))
    assert total_steps(path, 3) is None
    path.write_text("{}")
    assert total_steps(path, 3) is None
