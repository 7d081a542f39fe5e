import io
import os
import select

import pytest

from services.launcher.progress import ProgressBar, format_count, render_line
from services.launcher.records import TrainingProgress


def _progress(*rows, evals=()) -> TrainingProgress:
    progress = TrainingProgress()
    for worker, step, examples, loss, t in rows:
        progress.add(worker, {"step": step, "examples": examples, "loss": loss, "time": t})
    for worker, step, auc in evals:
        progress.add(worker, {"step": step, "eval_auc": auc})
    return progress


@pytest.mark.parametrize("n, text", [(0, "0"), (12, "12"), (999, "999"), (12_300, "12.3k"),
                                     (4_560_000, "4.56M"), (2.5, "2.5"), (7e9, "7G"),
                                     (999_936, "1M"), (999.7, "1k")])
def test_format_count(n, text):
    assert format_count(n) == text


def test_render_line_shows_bar_rates_loss_and_auc():
    progress = _progress((0, 10, 1000, 0.6, 0.0), (0, 50, 5000, 0.5, 2.0),
                         (1, 10, 1000, 0.7, 0.0), (1, 30, 3000, 0.5, 2.0),
                         evals=[(0, 50, 0.7123)])
    line = render_line(progress, total=160, width=120)
    assert line.startswith("[###############...............] 80/160 steps")
    assert "30 steps/s" in line and "3k ex/s" in line
    assert "loss 0.5000" in line and "auc 0.7123" in line


def test_render_line_without_total_or_rates_and_narrow():
    progress = _progress((0, 5, 40, 0.9, 1.0))
    assert render_line(progress, total=None) == "5 steps  loss 0.9000"
    assert len(render_line(progress, total=100, width=20)) <= 20


def test_bar_is_quiet_when_not_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar(100, stream)
    bar.status("waiting")
    bar.update(_progress((0, 5, 40, 0.9, 1.0)), force=True)
    bar.close()
    assert not bar.enabled
    assert stream.getvalue() == ""


def _read_all(fd: int) -> str:
    """Everything written so far to a pty: one read may return only part of it."""
    chunks = []
    while select.select([fd], [], [], 0.5)[0]:
        chunks.append(os.read(fd, 65536))
    return b"".join(chunks).decode()


def test_bar_redraws_in_place_on_a_terminal():
    master, slave = os.openpty()
    try:
        with open(slave, "w", closefd=False) as stream:
            bar = ProgressBar(100, stream, min_interval_s=0)
            assert bar.enabled
            bar.status("waiting for 2 ps to serve ...")
            bar.update(_progress((0, 25, 200, 0.8, 1.0)))
            bar.close()
        output = _read_all(master)
    finally:
        os.close(master)
        os.close(slave)
    assert "\r\x1b[2Kwaiting for 2 ps to serve ..." in output
    assert "\r\x1b[2K[" in output and "25/100 steps" in output
    assert output.endswith("\n")
