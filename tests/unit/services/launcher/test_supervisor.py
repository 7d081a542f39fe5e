import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from services.launcher.supervisor import Supervisor, error_line
from tests.procs import gone

PY = sys.executable
SLEEPER = "import time\nprint('up', flush=True)\ntime.sleep(60)"
STUBBORN = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('up', flush=True)\ntime.sleep(60)")


def wait_for_line(path: Path, text: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.02)


def test_start_passes_exact_env_and_logs_both_streams(tmp_path):
    script = ("import os, sys\nprint(os.environ['MLP_ROLE'], os.environ.get('HOME'), flush=True)\n"
              "print('to stderr', file=sys.stderr)\nsys.exit(3)")
    with Supervisor() as sup:
        child = sup.start("ps", 1, [PY, "-c", script], env={"MLP_ROLE": "ps"},
                          log_path=tmp_path / "logs" / "ps-1.log")
        assert child.proc.wait(30) == 3
    assert child.name == "ps 1"
    assert child.log_path.read_text().splitlines() == ["ps None", "to stderr"]
    assert sup.manifest()[0]["pid"] == child.pid


def test_children_run_in_their_own_session(tmp_path):
    with Supervisor() as sup:
        child = sup.start("worker", 0, [PY, "-c", SLEEPER], env=dict(os.environ),
                          log_path=tmp_path / "w.log")
        wait_for_line(child.log_path, "up")
        assert os.getsid(child.pid) == child.pid != os.getsid(0)
    assert gone(child.pid)


def test_stop_sends_sigterm_then_sigkill_after_grace(tmp_path):
    with Supervisor(grace_s=1.0) as sup:
        polite = sup.start("ps", 0, [PY, "-c", SLEEPER], env=dict(os.environ),
                           log_path=tmp_path / "a.log")
        stubborn = sup.start("ps", 1, [PY, "-c", STUBBORN], env=dict(os.environ),
                             log_path=tmp_path / "b.log")
        wait_for_line(polite.log_path, "up")
        wait_for_line(stubborn.log_path, "up")
        codes = sup.stop(sup.children)
        assert codes == {"ps 0": -signal.SIGTERM, "ps 1": -signal.SIGKILL}
        assert sup.running() == []
    assert gone(polite.pid) and gone(stubborn.pid)


def test_leaving_the_block_stops_every_child_even_on_error(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with Supervisor(grace_s=0.5) as sup:
            children = [sup.start("worker", i, [PY, "-c", STUBBORN if i else SLEEPER],
                                  env=dict(os.environ), log_path=tmp_path / f"{i}.log")
                        for i in range(3)]
            for child in children:
                wait_for_line(child.log_path, "up")
            raise RuntimeError("boom")
    assert all(gone(c.pid) for c in children)


def test_stop_signals_are_recorded_not_fatal_and_handlers_restored(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    with Supervisor(grace_s=5.0) as sup:
        child = sup.start("worker", 0, [PY, "-c", SLEEPER], env=dict(os.environ),
                          log_path=tmp_path / "w.log")
        wait_for_line(child.log_path, "up")
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        sup.sleep()
        assert sup.stop_signal == signal.SIGINT
        assert child.poll() is None
    assert gone(child.pid)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_second_signal_while_stopping_kills_at_once(tmp_path):
    """The child answers SIGTERM by signalling the launcher; that second signal must end the
    grace period: SIGKILL, although the child would have exited 0 on its own before the grace."""
    script = ("import os, signal, time\n"
              "def again(*a):\n"
              "    while True:\n"
              "        os.kill(os.getppid(), signal.SIGINT)\n"
              "        time.sleep(0.2)\n"
              "signal.signal(signal.SIGTERM, again)\n"
              "print('up', flush=True)\ntime.sleep(30)")
    with Supervisor(grace_s=120.0) as sup:
        child = sup.start("ps", 0, [PY, "-c", script], env=dict(os.environ),
                          log_path=tmp_path / "ps.log")
        wait_for_line(child.log_path, "up")
        assert sup.stop([child]) == {"ps 0": -signal.SIGKILL}
        assert sup.stop_signal == signal.SIGINT


def test_error_line_of_an_uncaught_exception(tmp_path):
    with Supervisor() as sup:
        child = sup.start("worker", 1, [PY, "-c", "raise ValueError('bad batch 7')"],
                          env=dict(os.environ), log_path=tmp_path / "w.log")
        child.proc.wait(30)
    assert child.error_line() == "ValueError: bad batch 7"


def test_error_line_of_a_json_log(tmp_path):
    path = tmp_path / "ps.log"
    records = [{"level": "info", "msg": "serving"},
               {"level": "error", "msg": "pull failed",
                "exc": "Traceback (most recent call last):\n  ...\nKeyError: 'user'"},
               {"level": "info", "msg": "stopping"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "\n")
    assert error_line(path) == "pull failed: KeyError: 'user'"
    path.write_text(json.dumps({"level": "critical", "msg": "no tables"}) + "\n")
    assert error_line(path) == "no tables"
    path.write_text(json.dumps({"level": "info", "msg": "fine"}) + "\n")
    assert error_line(path) is None
    assert error_line(tmp_path / "absent.log") is None
