"""Failure recovery with real processes under ``ps-cluster local``: kill -9 a PS while the
barrier holds the workers, kill -9 a worker mid-run; the run still finishes."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from discovery.factory import create_discovery
from discovery.file import FileConfig
from services import checkpoints
from services.keys import shard_of
from services.launcher.modeldir import reference_config_path
from tests.integration.launching import Launch, child_pids
from tests.procs import ROOT, wait_healthy
from worker.client import PSClient

STEPS = 600


def _ctl(model_dir, *args) -> dict:
    out = subprocess.run([sys.executable, "-m", "services.ctl", "--model-dir", str(model_dir),
                          "--json", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _wait(predicate, what: str, run, timeout_s: float = 120.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert run.proc.poll() is None, run.stderr
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _steps_done(model_dir, index: int) -> int:
    path = model_dir / "progress" / f"worker-{index}.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return max((json.loads(line).get("step", 0) for line in lines if line.strip()), default=0)


def _rows(client, table, ids):
    view = client.inspect_rows(table, ids)
    return view.found.copy(), view.embeddings.copy(), view.slots.copy()


def test_killed_ps_restores_its_shard_others_keep_theirs_and_a_killed_worker_rejoins(launch):
    config = json.loads(reference_config_path().read_text())
    config["train"].update(steps=STEPS, batch_size=256, eval_every=0, log_every=10)
    run = launch(config, "--num-ps", "2", "--num-workers", "2", "--max-restarts", "2",
                 "--save-steps", "150", "--max-to-keep", "2")
    model_dir = run.model_dir
    _wait(lambda: _steps_done(model_dir, 0) >= 20 and _steps_done(model_dir, 1) >= 20,
          "training to start", run)

    # stop: both workers end up waiting at the barrier
    _ctl(model_dir, "stop")
    _wait(lambda: _ctl(model_dir, "status")["block_status"]["blocked_indices"] == [0, 1],
          "both workers to block", run)
    saved = _ctl(model_dir, "save")
    step = int(saved["step"])
    assert checkpoints.committed(model_dir)[-1].name == f"model.ckpt-{step}"

    with create_discovery_file(model_dir) as discovery:
        ps = discovery.query("ps")
    addresses = [ps[0], ps[1]]
    table = json.loads((model_dir / "tables.json").read_text())["tables"][0]["name"]
    with PSClient(addresses) as client:
        ids, _ = client.export_rows(table)
        assert ids.shape[0] > 100
        owner = shard_of(ids, 2)
        at_save = _rows(client, table, ids)
        # updates after the checkpoint: existing ids on both shards, plus new ids
        fresh = np.arange(10**15, 10**15 + 64, dtype=np.int64)
        old = np.concatenate([ids[owner == 0][:25], ids[owner == 1][:25]])
        touched = np.concatenate([old, fresh])
        grads = np.full((touched.shape[0], at_save[1].shape[1]), 0.5, dtype=np.float32)
        client.push({table: touched}, {table: grads})
        live = _rows(client, table, ids)
        fresh_owner = shard_of(fresh, 2)
        assert fresh_owner.min() == 0 and fresh_owner.max() == 1

        old_pid = child_pids(model_dir)["ps 1"]
        os.kill(old_pid, signal.SIGKILL)
        _wait(lambda: child_pids(model_dir)["ps 1"] != old_pid, "ps 1 to be restarted", run)
        wait_healthy(addresses[1], timeout_s=120)
        after = _rows(client, table, ids)
        fresh_after = client.inspect_rows(table, fresh).found

    lost, kept = owner == 1, owner == 0
    for part in range(3):   # found, embeddings, slots
        np.testing.assert_array_equal(after[part][lost], at_save[part][lost])
        np.testing.assert_array_equal(after[part][kept], live[part][kept])
    updated = np.isin(ids, old)
    assert not np.array_equal(live[1][updated & lost], at_save[1][updated & lost])
    assert not np.array_equal(after[1][updated & kept], at_save[1][updated & kept])
    assert fresh_after[fresh_owner == 0].all() and not fresh_after[fresh_owner == 1].any()
    assert "restarting it (1 of 2)" in run.stderr and "ps 1 was killed by SIGKILL" in run.stderr
    restarted_log = (model_dir / "logs" / "ps-1.log").read_text()
    assert f'"checkpoint": "{model_dir / f"model.ckpt-{step}"}"' in restarted_log

    _ctl(model_dir, "resume")
    # a PS killed while the workers train: they retry through the gap
    target = _steps_done(model_dir, 0) + 30
    _wait(lambda: _steps_done(model_dir, 0) >= target, "worker 0 to train on", run)
    ps_pid = child_pids(model_dir)["ps 0"]
    os.kill(ps_pid, signal.SIGKILL)
    _wait(lambda: child_pids(model_dir)["ps 0"] != ps_pid, "ps 0 to be restarted", run)
    target = _steps_done(model_dir, 1) + 30
    _wait(lambda: _steps_done(model_dir, 1) >= target, "worker 1 to train on", run)
    worker_pid = child_pids(model_dir)["worker 1"]
    os.kill(worker_pid, signal.SIGKILL)
    assert run.wait(timeout_s=300) == 0, run.stderr
    assert "worker 1 was killed by SIGKILL" in run.stderr
    assert "ps 0 was killed by SIGKILL" in run.stderr
    assert _steps_done(model_dir, 0) == STEPS and _steps_done(model_dir, 1) == STEPS
    committed = checkpoints.committed(model_dir)
    assert len(committed) == 2 and committed[-1].name == f"model.ckpt-{2 * STEPS}"
    assert sorted(model_dir.glob("model.ckpt-*")) == sorted(committed)
    result = json.loads((model_dir / "result.json").read_text())
    assert result["eval_auc"] > 0.6
    status_line = [line for line in run.stdout.splitlines() if "committed at step" in line]
    assert status_line, run.stdout
    run.assert_all_gone()


def create_discovery_file(model_dir):
    from discovery.base import DiscoveryType
    from discovery.factory import DiscoveryConfig

    return create_discovery(DiscoveryConfig(DiscoveryType.FILE, file=FileConfig(str(model_dir))))


def test_a_new_model_dir_starts_from_another_ones_checkpoint(tmp_path, launch):
    config = json.loads(reference_config_path().read_text())
    config["train"].update(steps=25, batch_size=256, eval_every=0, log_every=5)
    source = launch(config, "--num-ps", "2", "--num-workers", "2")
    assert source.wait(timeout_s=300) == 0, source.stderr
    saved = checkpoints.committed(source.model_dir)[-1]
    assert saved.name == "model.ckpt-50"

    (tmp_path / "second").mkdir()
    second = Launch(tmp_path / "second", config,
                    ["--num-ps", "3", "--num-workers", "2", "--restore-dir",
                     str(source.model_dir), "--restore-ckpt", saved.name])
    try:
        assert second.wait(timeout_s=300) == 0, second.stderr
    finally:
        second.cleanup()
    model_dir = second.model_dir
    assert f"starting from {saved.name}" in second.stdout
    for shard in range(3):
        log = (model_dir / "logs" / f"ps-{shard}.log").read_text()
        assert f'"checkpoint": "{model_dir / saved.name}"' in log and '"num_shards": 3' in log
    assert checkpoints.committed(model_dir)[-1].name == "model.ckpt-100"
    assert saved.name in checkpoints.read_meta(model_dir).exempt_model_checkpoint_paths
    assert (model_dir / checkpoints.RESTORE_MARKER).exists()
