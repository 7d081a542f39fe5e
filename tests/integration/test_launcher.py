"""``ps-cluster local`` end to end: real launcher, PS and worker processes, real files and signals.

Most tests run the stand-ins in ``tests/fakes/launcher_{ps,worker}.py`` (the launch
contract and nothing more) so faults can be scripted; ``test_real_cluster`` runs
``ps_server`` and ``worker`` themselves once both speak the contract.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import time

import pytest
from PIL import Image

from tests.integration.launching import child_pids, gone
from tests.procs import ROOT

TABLES = ROOT / "ps_server" / "examples" / "tables.json"
FAKES = ["--tables", str(TABLES), "--ps-module", "tests.fakes.launcher_ps",
         "--worker-module", "tests.fakes.launcher_worker"]


def test_success_prints_summary_and_writes_plot(launch):
    run = launch({"train": {"steps": 60}, "fake_worker": {"step_s": 0.01, "batch": 128}},
                 "--num-ps", "2", "--num-workers", "2", *FAKES)
    assert run.wait() == 0, run.stderr
    out = run.stdout
    assert "2 ps serving at 127.0.0.1:" in out
    assert "training finished in" in out and "(2 ps, 2 workers, async)" in out
    assert "steps         120 in" in out and "steps/s" in out
    assert "examples      15.4k," in out and "examples/s" in out
    assert "Bayes-optimal 0.7800" in out and "baseline 0.5000" in out
    for name in ("ps-0", "ps-1", "worker-0", "worker-1"):
        assert str(run.model_dir / "logs" / f"{name}.log") in out
    plot = run.model_dir / "training.png"
    assert f"plot          {plot}" in out
    with Image.open(plot) as image:
        image.verify()
    assert run.stderr == ""
    run.assert_all_gone()
    for i in (0, 1):
        assert "stopped on SIGTERM" in (run.model_dir / "logs" / f"ps-{i}.log").read_text()
    assert list((run.model_dir / "ps").iterdir()) == []
    written = json.loads((run.model_dir / "config.json").read_text())
    assert written["train"] == {"steps": 60}
    assert (run.model_dir / "tables.json").read_text() == TABLES.read_text()


def test_worker_failing_on_first_step_fails_the_cluster_fast(launch):
    run = launch({"train": {"steps": 100000}, "fake_worker": {"fail_index": 1}},
                 "--num-ps", "2", "--num-workers", "3", *FAKES)
    assert run.wait(timeout_s=30) == 1
    lines = run.stderr.splitlines()
    assert lines[0] == ("ps-cluster: worker 1 exited with code 1: RuntimeError: DeadlineExceeded: "
                        f"worker 1 failed on its first step "
                        f"(log: {run.model_dir / 'logs' / 'worker-1.log'})")
    assert str(run.model_dir / "logs" / "worker-0.log") in run.stderr
    assert "Traceback" not in run.stderr
    run.assert_all_gone()


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stop_signal_stops_every_child(launch, sig, code):
    run = launch({"train": {"steps": 100000}, "fake_worker": {"step_s": 0.01}},
                 "--num-ps", "2", "--num-workers", "2", *FAKES)
    run.wait_for_progress(2)
    pids = child_pids(run.model_dir)
    assert len(pids) == 5 and not any(gone(p) for p in pids.values())
    run.proc.send_signal(sig)
    assert run.wait(timeout_s=30) == code
    assert f"ps-cluster: {signal.Signals(sig).name} received; stopped 5 running processes" \
        in run.stderr
    assert "training interrupted in" in run.stdout
    assert str(run.model_dir / "logs" / "worker-1.log") in run.stdout
    run.assert_all_gone()


def test_ps_exiting_during_training_fails_the_cluster(launch):
    run = launch({"train": {"steps": 100000}, "fake_ps": {"crash_index": 1, "crash_after_s": 1.5}},
                 "--num-ps", "2", "--num-workers", "2", *FAKES)
    assert run.wait(timeout_s=30) == 1
    assert run.stderr.startswith("ps-cluster: ps 1 exited with code 3 while workers were "
                                 "training: ps 1 lost its shard: out of memory (log: ")
    run.assert_all_gone()


def test_worker_killed_by_a_signal_fails_the_cluster_without_restarts(launch):
    run = launch({"train": {"steps": 100000}}, "--num-ps", "1", "--num-workers", "2",
                 "--max-restarts", "0", *FAKES)
    run.wait_for_progress(2)
    os.kill(child_pids(run.model_dir)["worker 1"], signal.SIGKILL)
    assert run.wait(timeout_s=30) == 1
    assert run.stderr.startswith("ps-cluster: worker 1 was killed by SIGKILL: worker 1 found ps")
    run.assert_all_gone()


def test_run_timeout_stops_everything(launch):
    run = launch({"train": {"steps": 100000}}, "--num-ps", "1", "--num-workers", "1",
                 "--timeout-s", "4", *FAKES)
    assert run.wait(timeout_s=30) == 1
    assert run.stderr.startswith("ps-cluster: training did not finish within 4 s\n")
    run.assert_all_gone()


def test_signal_while_waiting_for_ps_stops_them(launch):
    run = launch({"train": {"steps": 10}, "fake_ps": {"never_register": True}},
                 "--num-ps", "2", "--num-workers", "1", *FAKES)
    deadline = time.monotonic() + 30
    while not all((run.model_dir / "logs" / f"ps-{i}.log").exists()
                  and "serving" in (run.model_dir / "logs" / f"ps-{i}.log").read_text()
                  for i in range(2)):
        assert time.monotonic() < deadline and run.proc.poll() is None, run.stderr
        time.sleep(0.05)
    run.proc.send_signal(signal.SIGINT)
    assert run.wait(timeout_s=30) == 130
    assert "SIGINT received; stopped 3 running processes" in run.stderr
    run.assert_all_gone()


def test_ps_that_ignores_sigterm_is_killed_and_the_run_still_succeeds(launch):
    run = launch({"train": {"steps": 20}, "fake_ps": {"ignore_sigterm": True}},
                 "--num-ps", "1", "--num-workers", "1", "--grace-s", "1", *FAKES)
    assert run.wait() == 0, run.stderr
    assert run.stderr == ("ps-cluster: ps 0 did not stop within 1 s of SIGTERM "
                          "and was killed\n")
    assert "training finished" in run.stdout
    assert "ignoring SIGTERM" in (run.model_dir / "logs" / "ps-0.log").read_text()
    run.assert_all_gone()


def test_ps_failing_on_start_is_reported(launch):
    run = launch({"train": {"steps": 20}, "fake_ps": {"fail_on_start": True}},
                 "--num-ps", "2", "--num-workers", "2", *FAKES)
    assert run.wait() == 1
    first = run.stderr.splitlines()[0]
    assert first.startswith("ps-cluster: ps ")
    assert "exited with code 1 before serving: RuntimeError: ps " in first
    assert "cannot load its tables" in first
    assert "worker" not in json.dumps(child_pids(run.model_dir))
    run.assert_all_gone()


def test_ps_never_ready_times_out(launch):
    run = launch({"train": {"steps": 20}, "fake_ps": {"never_register": True}},
                 "--num-ps", "2", "--num-workers", "1", "--ready-timeout-s", "2", *FAKES)
    assert run.wait() == 1
    assert run.stderr.startswith("ps-cluster: ps 0, ps 1 not registered and serving within 2 s")
    run.assert_all_gone()


def test_progress_bar_on_a_terminal(tmp_path, launch):
    master, slave = pty.openpty()
    try:
        run = launch({"train": {"steps": 80}, "fake_worker": {"step_s": 0.02}},
                     "--num-ps", "1", "--num-workers", "2", *FAKES, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    assert run.wait() == 0
    screen = b"".join(chunks).decode()
    assert "waiting for 1 ps and the controller to serve" in screen
    assert "/160 steps" in screen and "steps/s" in screen and "loss " in screen
    assert re.search(r"\[#+\] 160/160 steps", screen), screen
    run.assert_all_gone()


def test_real_cluster(tmp_path, launch):
    from services.launcher.modeldir import reference_config_path

    reference = reference_config_path()
    config = json.loads(reference.read_text()) if reference else {}
    train = config.setdefault("train", {})
    train["steps"] = min(train.get("steps", 200), 200)
    run = launch(config, "--num-ps", "2", "--num-workers", "2")
    assert run.wait(timeout_s=600) == 0, run.stderr
    assert "Bayes-optimal" in run.stdout and "examples/s" in run.stdout
    result = json.loads((run.model_dir / "result.json").read_text())
    assert result["steps"] > 0 and 0.5 < result["eval_auc"] <= result["bayes_auc"] + 0.05
    with Image.open(run.model_dir / "training.png") as image:
        image.verify()
    run.assert_all_gone()
    assert list((run.model_dir / "ps").iterdir()) == []


def test_real_worker_failing_on_its_first_step_stops_the_cluster(tmp_path, launch):
    """The PS lack one slot's table, so both real workers fail on their first pull."""
    from services.launcher.modeldir import reference_config_path
    from worker.config import TrainConfig

    config = json.loads(reference_config_path().read_text())
    tables = TrainConfig.from_dict(config).tables_json()
    tables["tables"] = [t for t in tables["tables"] if t["name"] != "feature_1"]
    tables_path = tmp_path / "partial-tables.json"
    tables_path.write_text(json.dumps(tables))
    run = launch(config, "--num-ps", "2", "--num-workers", "2", "--tables", str(tables_path))
    assert run.wait(timeout_s=300) == 1
    first = run.stderr.splitlines()[0]
    assert re.match(r"ps-cluster: worker \d exited with code 1: ", first), run.stderr
    assert "NOT_FOUND" in first and "feature_1" in first, first
    run.assert_all_gone()
