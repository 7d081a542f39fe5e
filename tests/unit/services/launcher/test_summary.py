from pathlib import Path

from PIL import Image

from services.launcher.records import TrainingProgress, TrainingResult
from services.launcher.summary import RunFacts, format_summary, write_plot

LOGS = (("ps 0", Path("/run/logs/ps-0.log")), ("worker 0", Path("/run/logs/worker-0.log")))


def _progress() -> TrainingProgress:
    progress = TrainingProgress()
    for worker in (0, 1):
        for step in range(5, 105, 5):
            progress.add(worker, {"step": step, "examples": step * 64, "loss": 1 / step,
                                  "time": step / 10})
    for step in (50, 100):
        progress.add(0, {"step": step, "eval_auc": 0.6 + step / 1000, "eval_logloss": 0.5})
    return progress


def test_summary_from_result_puts_auc_beside_bayes_optimal():
    result = TrainingResult(steps=200, examples=12800, elapsed_s=4.0, eval_auc=0.7412,
                            eval_logloss=0.4821, calibration=1.012, bayes_auc=0.759,
                            baseline_auc=0.5, mode="sync")
    facts = RunFacts(2, 2, 6.5, LOGS, Path("/run/training.png"))
    text = format_summary(facts, result, _progress())
    lines = text.splitlines()
    assert lines[0] == "ps-cluster: training finished in 6.5 s (2 ps, 2 workers, sync)"
    assert "200 in 4.0 s, 50.0 steps/s" in text
    assert "12.8k, 3.2k examples/s" in text
    assert "eval AUC      0.7412   Bayes-optimal 0.7590 (gap +0.0178)   baseline 0.5000" in text
    assert "logloss 0.4821, calibration 1.012" in text
    assert "plot          /run/training.png" in text
    assert lines[-2].endswith("ps 0      /run/logs/ps-0.log") and "logs" in lines[-2]
    assert lines[-1].endswith("worker 0  /run/logs/worker-0.log")


def test_summary_without_result_uses_progress_lines():
    facts = RunFacts(1, 2, 10.0, LOGS, outcome="interrupted")
    text = format_summary(facts, None, _progress())
    assert text.startswith("ps-cluster: training interrupted in 10.0 s (1 ps, 2 workers)")
    assert "no result.json" in text
    assert "200 in 10.0 s, 20.0 steps/s" in text
    assert "eval AUC      0.7000\n" in text
    assert "Bayes-optimal" not in text and "plot" not in text


def test_summary_without_any_evaluation():
    text = format_summary(RunFacts(1, 1, 1.0, ()), TrainingResult(steps=10, bayes_auc=0.8),
                          TrainingProgress())
    assert "eval AUC      none (no evaluation ran)   Bayes-optimal 0.8000" in text


def test_plot_is_a_png_with_loss_and_auc(tmp_path):
    path = write_plot(tmp_path / "out" / "training.png", _progress(),
                      TrainingResult(bayes_auc=0.78, baseline_auc=0.5))
    assert path == tmp_path / "out" / "training.png"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (1000, 400)
        assert len(image.getcolors(1 << 20)) > 10
    assert [p.name for p in path.parent.iterdir()] == ["training.png"]


def test_plot_with_losses_only_and_with_nothing(tmp_path):
    progress = TrainingProgress()
    progress.add(0, {"step": 1, "examples": 1, "loss": 0.5, "time": 0})
    assert write_plot(tmp_path / "a.png", progress, None).is_file()
    assert write_plot(tmp_path / "b.png", TrainingProgress(), None) is None
    assert not (tmp_path / "b.png").exists()
