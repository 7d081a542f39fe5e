"""Checkpoints with real processes: N -> M restore, a PS killed during a save, a corrupted
shard file, and bad input (concurrent saves, an unusable checkpoint path, a mismatched table)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from services import checkpoints
from services.keys import shard_of
from services.pb import controller_pb2 as pb
from services.pb import controller_pb2_grpc
from tests.procs import ROOT, ServerProcess, cluster_ps_args, start_controller, start_ps
from worker.client import PSClient

EXAMPLE = ROOT / "ps_server" / "examples" / "tables.json"
DIMS = {"user": 16, "item": 16}  # item is adam with fp16 pulls; user is adagrad
DENSE = {f"dense_{i}": (i + 1, 3) for i in range(6)}
UNKNOWN = np.array([-7, 0, 10**15 + 3], dtype=np.int64)  # ids never pushed


class Job:
    """Processes of one test; every one is stopped by PID at the end (SIGCONT first)."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.model_dir = tmp_path / "model"
        self.model_dir.mkdir()
        self.procs: list[ServerProcess] = []
        self.killed: set[int] = set()

    def ps(self, num_shards: int, tables: Path = EXAMPLE, shards=None) -> list[ServerProcess]:
        out = []
        for shard in (range(num_shards) if shards is None else shards):
            p = start_ps(self.tmp_path, tables, shard=shard, num_shards=num_shards,
                         extra=cluster_ps_args(self.model_dir))
            self.procs.append(p)
            out.append(p)
        return out

    def controller(self, num_ps: int) -> ServerProcess:
        p = start_controller(self.tmp_path, self.model_dir, num_ps=num_ps, num_workers=1,
                             extra=["--tables", str(EXAMPLE)])
        self.procs.append(p)
        return p

    def kill(self, p: ServerProcess) -> None:
        os.kill(p.pid, signal.SIGKILL)
        p.proc.wait()
        self.killed.add(p.pid)

    def stop_all(self) -> list[str]:
        failures = []
        for p in reversed(self.procs):
            if p.proc.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
            code = p.stop()
            if code != 0 and p.pid not in self.killed:
                failures.append(f"{p.args[2:4]} exited {code}:\n{p.log()[-3000:]}")
        self.procs.clear()
        return failures


@pytest.fixture
def job(tmp_path):
    j = Job(tmp_path)
    try:
        yield j
    finally:
        failures = j.stop_all()
    assert not failures, "\n".join(failures)


def _stub(address: str):
    channel = grpc.insecure_channel(address)
    return channel, controller_pb2_grpc.ControllerStub(channel)


def _ids(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: np.unique(rng.integers(-10**12, 10**12, size=3000, dtype=np.int64))
            for name in DIMS}


def _train(client: PSClient, ids: dict[str, np.ndarray], steps: int, seed: int, ts: int) -> None:
    rng = np.random.default_rng(seed)
    client.pull_dense({n: np.full(shape, 0.5, dtype=np.float32) for n, shape in DENSE.items()})
    for step in range(steps):
        # the first step touches every id, later ones a random multiset of them
        batch = {n: a if step == 0 else rng.choice(a, size=2000) for n, a in ids.items()}
        grads = {n: rng.standard_normal((len(b), DIMS[n])).astype(np.float32)
                 for n, b in batch.items()}
        client.push(batch, grads, timestamp_s=ts + step)
        client.push_dense({n: rng.standard_normal(s).astype(np.float32) for n, s in DENSE.items()})


def _snapshot(client: PSClient, ids: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every row (embedding, optimizer slots, update time, pulled value) and dense variable."""
    out = {}
    for name, table_ids in ids.items():
        view = client.inspect_rows(name, np.concatenate([table_ids, UNKNOWN]))
        out[f"{name}/found"] = view.found
        out[f"{name}/embeddings"] = view.embeddings
        out[f"{name}/slots"] = view.slots
        out[f"{name}/last_update_s"] = view.last_update_s
        out[f"{name}/pull"] = client.pull({name: table_ids})[name]
    for n in DENSE:
        out[f"dense/{n}"] = client.pull_dense({n: None})[n]
        out[f"dense/{n}/updates"] = np.array(client.dense_update_count(n))
    return out


def _assert_same(got: dict, want: dict, mask: dict[str, np.ndarray] | None = None) -> None:
    assert got.keys() == want.keys()
    for key in want:
        a, b = got[key], want[key]
        table = key.split("/")[0]
        if mask is not None:
            if table not in mask:
                continue
            keep = mask[table][:len(a)]  # pulled values leave out the UNKNOWN ids at the end
            a, b = a[keep], b[keep]
        assert a.dtype == b.dtype and a.shape == b.shape, key
        assert np.array_equal(a, b), f"{key}: {np.sum(a != b)} values differ"


def _check_found(snap: dict, ids: dict[str, np.ndarray]) -> None:
    for name, table_ids in ids.items():
        found = snap[f"{name}/found"]
        assert found[:len(table_ids)].all() and not found[len(table_ids):].any(), name


def _restored_from(p: ServerProcess) -> list[str]:
    return [r.get("checkpoint") for r in p.log_records() if r.get("msg") == "restored"]


def _report(stub, step: int) -> None:
    stub.ReportStep(pb.ReportStepRequest(worker_index=0, step=step))


def _wait_for(path: Path, proc: ServerProcess, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert proc.proc.poll() is None, proc.log()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


class SaveInThread:
    """SaveCheckpoint in a thread; ``join`` gives the reply or the RpcError."""

    def __init__(self, stub):
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(stub,), daemon=True)
        self.thread.start()

    def _run(self, stub):
        try:
            self.result = stub.SaveCheckpoint(pb.SaveCheckpointRequest(), timeout=300)
        except grpc.RpcError as exc:
            self.result = exc

    def join(self):
        self.thread.join(300)
        assert not self.thread.is_alive(), "SaveCheckpoint never returned"
        return self.result


def test_three_ps_restore_onto_two_and_four_with_every_row_slot_and_dense_variable(job):
    ids = _ids()
    ps = job.ps(3)
    controller = job.controller(3)
    with PSClient([p.address for p in ps]) as client:
        _train(client, ids, steps=4, seed=1, ts=1000)
        want = _snapshot(client, ids)
    _check_found(want, ids)
    n_user, n_item = len(ids["user"]) + len(UNKNOWN), len(ids["item"]) + len(UNKNOWN)
    assert want["user/slots"].shape == (n_user, 16)  # adagrad: one accumulator per value
    assert want["item/slots"].shape[0] == n_item and want["item/slots"].shape[1] > 32  # adam
    assert np.count_nonzero(want["user/slots"]) > 1000 and np.count_nonzero(want["item/slots"]) > 1000
    assert want["item/pull"].dtype == np.float16
    channel, stub = _stub(controller.address)
    with channel:
        _report(stub, 30)
        saved = stub.SaveCheckpoint(pb.SaveCheckpointRequest())
    ckpt = job.model_dir / "model.ckpt-30"
    assert saved.path == str(ckpt) and saved.step == 30 and saved.bytes > 3000 * 2 * 16 * 4
    assert checkpoints.committed(job.model_dir) == [ckpt] and checkpoints.problems(ckpt) == []
    assert sorted(d.name for d in ckpt.iterdir() if d.is_dir()) == [
        f"shard-{i}-of-3" for i in range(3)]
    assert not job.stop_all()

    for m in (2, 4):
        restored = job.ps(m)
        assert all(_restored_from(p) == [str(ckpt)] for p in restored)
        with PSClient([p.address for p in restored]) as client:
            got = _snapshot(client, ids)
            rows = {(i.config.name, i.shard): i.rows for i in client.table_info()}
        _assert_same(got, want)
        assert rows == {(name, s): int(np.sum(shard_of(ids[name], m) == s))
                        for name in DIMS for s in range(m)}, m
        assert not job.stop_all()


def test_a_ps_killed_during_a_save_commits_nothing_and_restarts_from_the_previous(job):
    ids = _ids(2)
    ps = job.ps(2)
    controller = job.controller(2)
    channel, stub = _stub(controller.address)
    with channel:
        with PSClient([p.address for p in ps]) as client:
            _train(client, ids, steps=2, seed=3, ts=1000)
            at_10 = _snapshot(client, ids)
            _report(stub, 10)
            stub.SaveCheckpoint(pb.SaveCheckpointRequest())
            _train(client, ids, steps=2, seed=4, ts=2000)
            at_20 = _snapshot(client, ids)
        first = job.model_dir / "model.ckpt-10"
        torn = job.model_dir / "model.ckpt-20"
        _report(stub, 20)
        # shard 1 cannot answer (stopped), so the save is still waiting for it when it dies
        ps[1].signal(signal.SIGSTOP)
        save = SaveInThread(stub)
        _wait_for(checkpoints.shard_dir(torn, 0, 2) / checkpoints.MANIFEST, ps[0])
        job.kill(ps[1])
        error = save.join()
        assert isinstance(error, grpc.RpcError), error
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert ps[1].address in error.details()
        assert checkpoints.read_state(job.model_dir).model_checkpoint_path == "model.ckpt-10"
        assert checkpoints.committed(job.model_dir) == [first]
        assert not torn.exists()  # the controller removed the uncommitted attempt

        [again] = job.ps(2, shards=[1])
        assert _restored_from(again) == [str(first)]
        with PSClient([ps[0].address, again.address]) as client:
            got = _snapshot(client, ids)
        on_1 = {n: shard_of(np.concatenate([i, UNKNOWN]), 2) == 1 for n, i in ids.items()}
        on_0 = {n: ~m for n, m in on_1.items()}
        for name in DIMS:  # the training after step 10 changed shard 1's rows
            assert not np.array_equal(at_20[f"{name}/embeddings"][on_1[name]],
                                      at_10[f"{name}/embeddings"][on_1[name]])
        _assert_same(got, at_10, on_1)   # shard 1: back at the committed checkpoint
        _assert_same(got, at_20, on_0)   # shard 0 never went down
        # with every PS back the same step saves and commits
        saved = stub.SaveCheckpoint(pb.SaveCheckpointRequest())
        assert saved.path == str(torn)
        assert checkpoints.committed(job.model_dir) == [first, torn]
        assert checkpoints.problems(torn) == []


def test_a_corrupted_shard_file_falls_back_to_the_previous_checkpoint(job):
    ids = _ids(5)
    [ps] = job.ps(1)
    controller = job.controller(1)
    channel, stub = _stub(controller.address)
    with channel:
        with PSClient([ps.address]) as client:
            _train(client, ids, steps=2, seed=6, ts=1000)
            at_10 = _snapshot(client, ids)
            _report(stub, 10)
            stub.SaveCheckpoint(pb.SaveCheckpointRequest())
            _train(client, ids, steps=2, seed=7, ts=2000)
            _report(stub, 20)
            stub.SaveCheckpoint(pb.SaveCheckpointRequest())
    assert not job.stop_all()
    second = job.model_dir / "model.ckpt-20"
    assert checkpoints.committed(job.model_dir) == [job.model_dir / "model.ckpt-10", second]
    victim = checkpoints.shard_dir(second, 0, 1) / "table-0.bin"
    with open(victim, "r+b") as f:
        f.seek(victim.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x10]))
    assert checkpoints.problems(second) == []  # same size: only the CRC32 tells

    [again] = job.ps(1)
    assert _restored_from(again) == [str(job.model_dir / "model.ckpt-10")]
    skipped = [r["msg"] for r in again.log_records() if r.get("msg", "").startswith("not restoring")]
    assert len(skipped) == 1
    assert "model.ckpt-20" in skipped[0] and "CRC32" in skipped[0] and str(victim) in skipped[0]
    with PSClient([again.address]) as client:
        _assert_same(_snapshot(client, ids), at_10)


def test_a_second_save_while_one_runs_is_failed_precondition(job):
    ids = _ids(8)
    ps = job.ps(2)
    controller = job.controller(2)
    with PSClient([p.address for p in ps]) as client:
        _train(client, ids, steps=1, seed=9, ts=1000)
    channel, stub = _stub(controller.address)
    with channel:
        _report(stub, 7)
        ckpt = job.model_dir / "model.ckpt-7"
        ps[1].signal(signal.SIGSTOP)  # holds the first save open
        try:
            first = SaveInThread(stub)
            _wait_for(checkpoints.shard_dir(ckpt, 0, 2) / checkpoints.MANIFEST, ps[0])
            with pytest.raises(grpc.RpcError) as err:
                stub.SaveCheckpoint(pb.SaveCheckpointRequest())
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "already running" in err.value.details()
            ctl = subprocess.run([sys.executable, "-m", "services.ctl", "--model-dir",
                                  str(job.model_dir), "save"], capture_output=True, text=True,
                                 cwd=ROOT, timeout=60)
            assert ctl.returncode == 1
            assert "FAILED_PRECONDITION" in ctl.stderr and "already running" in ctl.stderr
            assert checkpoints.committed(job.model_dir) == []
        finally:
            ps[1].signal(signal.SIGCONT)
        reply = first.join()
        assert not isinstance(reply, grpc.RpcError), reply
        assert reply.path == str(ckpt)
    assert checkpoints.committed(job.model_dir) == [ckpt]
    assert checkpoints.problems(ckpt) == []
    assert json.loads((ckpt / checkpoints.CKPT_META).read_text())["num_shards"] == 2


def test_an_unusable_checkpoint_path_is_internal_and_commits_nothing(job):
    ps = job.ps(2)
    controller = job.controller(2)
    with PSClient([p.address for p in ps]) as client:
        _train(client, _ids(10), steps=1, seed=11, ts=1000)
    blocker = job.model_dir / "model.ckpt-5"
    blocker.write_text("a file where the checkpoint directory should go\n")
    channel, stub = _stub(controller.address)
    with channel:
        _report(stub, 5)
        with pytest.raises(grpc.RpcError) as err:
            stub.SaveCheckpoint(pb.SaveCheckpointRequest())
        assert err.value.code() == grpc.StatusCode.INTERNAL
        assert f"cannot create {blocker}" in err.value.details()
        ctl = subprocess.run([sys.executable, "-m", "services.ctl", "--model-dir",
                              str(job.model_dir), "save"], capture_output=True, text=True,
                             cwd=ROOT, timeout=60)
        assert ctl.returncode == 1 and "INTERNAL" in ctl.stderr and str(blocker) in ctl.stderr
        assert checkpoints.read_state(job.model_dir) is None
        assert blocker.is_file()
        status = stub.GetTrainingStatus(pb.GetTrainingStatusRequest())
        assert status.last_checkpoint == ""
        blocker.unlink()
        saved = stub.SaveCheckpoint(pb.SaveCheckpointRequest())
        assert saved.path == str(blocker)
    assert checkpoints.committed(job.model_dir) == [blocker]


def test_a_ps_whose_table_differs_from_the_checkpoint_exits_1(job, tmp_path):
    [ps] = job.ps(1)
    controller = job.controller(1)
    with PSClient([ps.address]) as client:
        _train(client, _ids(12), steps=1, seed=13, ts=1000)
    channel, stub = _stub(controller.address)
    with channel:
        stub.SaveCheckpoint(pb.SaveCheckpointRequest())
    assert not job.stop_all()
    config = json.loads(EXAMPLE.read_text())
    config["tables"][0]["dim"] = 8
    other = tmp_path / "dim8.json"
    other.write_text(json.dumps(config))
    port_log = tmp_path / "mismatch.log"
    with open(port_log, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ps_server", "--tables", str(other), "--port", "0",
             *cluster_ps_args(job.model_dir)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        code = proc.wait(120)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    text = port_log.read_text()
    assert code == 1, text
    assert "ps-server:" in text and "table 'user' was saved with dim 16" in text
    assert "this PS has dim 8" in text
