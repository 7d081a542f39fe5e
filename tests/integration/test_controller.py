"""The controller over gRPC with real PS processes: barrier, block status, saves, status, ps-ctl."""

import json
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest

from services import checkpoints
from services.pb import controller_pb2 as pb
from services.pb import controller_pb2_grpc
from tests.procs import ROOT, cluster_ps_args, start_controller, start_ps
from worker.client import PSClient
from worker.controller_link import ControllerLink

EXAMPLE = ROOT / "ps_server" / "examples" / "tables.json"


@pytest.fixture
def job(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    started = []
    try:
        for shard in range(2):
            started.append(start_ps(tmp_path, EXAMPLE, shard=shard, num_shards=2,
                                    extra=cluster_ps_args(model_dir)))
        controller = start_controller(tmp_path, model_dir, num_ps=2, num_workers=2,
                                      extra=["--tables", str(EXAMPLE)])
        started.append(controller)
        yield model_dir, started[:2], controller
    finally:
        for proc in reversed(started):
            assert proc.stop() == 0, proc.log()


def _stub(address):
    channel = grpc.insecure_channel(address)
    return channel, controller_pb2_grpc.ControllerStub(channel)


def _ctl(model_dir, *args):
    return subprocess.run([sys.executable, "-m", "services.ctl", "--model-dir", str(model_dir),
                           *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def _train_a_little(ps, steps=3):
    with PSClient([p.address for p in ps]) as client:
        rng = np.random.default_rng(0)
        client.pull_dense({"w": np.ones((2, 3), dtype=np.float32)})
        for _ in range(steps):
            ids = rng.integers(0, 10**9, size=500, dtype=np.int64)
            client.push({"user": ids}, {"user": rng.standard_normal((500, 16)).astype(np.float32)})
            client.push_dense({"w": np.ones((2, 3), dtype=np.float32)})


def test_barrier_block_status_save_and_status(job):
    """The seed's server_lib case: stop twice fails, a worker blocks and is released, save works."""
    model_dir, ps, controller = job
    assert (model_dir / "controller_addr").read_text().strip() == controller.address
    _train_a_little(ps)
    channel, stub = _stub(controller.address)
    links = [ControllerLink(controller.address, i) for i in range(2)]
    try:
        links[0].after_step(5)
        links[1].after_step(7)
        stub.StopTraining(pb.StopTrainingRequest())
        with pytest.raises(grpc.RpcError) as err:
            stub.StopTraining(pb.StopTrainingRequest())
        assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
        # a report's reply is read at the next step: the worker stops within one step
        waiter = threading.Thread(target=lambda: (links[0].after_step(6), links[0].after_step(7)))
        waiter.start()
        deadline = time.monotonic() + 30
        while list(stub.GetBlockStatus(pb.GetBlockStatusRequest()).blocked_indices) != [0]:
            assert time.monotonic() < deadline, "worker 0 never blocked"
            time.sleep(0.05)
        assert list(stub.GetBlockStatus(pb.GetBlockStatusRequest()).unblocked_indices) == [1]
        assert waiter.is_alive()
        stub.ResumeTraining(pb.ResumeTrainingRequest())
        waiter.join(30)
        assert not waiter.is_alive()
        assert list(stub.GetBlockStatus(pb.GetBlockStatusRequest()).blocked_indices) == []
        with pytest.raises(grpc.RpcError) as err:
            stub.ResumeTraining(pb.ResumeTrainingRequest())
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        links[1].after_step(8)
        links[0]._collect(), links[1]._collect()
        status = stub.GetTrainingStatus(pb.GetTrainingStatusRequest())
        assert status.global_step == 7 + 8 and status.workers_alive == 2
        saved = stub.SaveCheckpoint(pb.SaveCheckpointRequest())
        assert saved.step == 15 and saved.path == str(model_dir / "model.ckpt-15")
        assert checkpoints.committed(model_dir) == [model_dir / "model.ckpt-15"]
        assert checkpoints.problems(model_dir / "model.ckpt-15") == []
        status = stub.GetTrainingStatus(pb.GetTrainingStatusRequest())
        assert status.last_checkpoint == saved.path and status.last_checkpoint_step == 15
    finally:
        for link in links:
            link.close()
        channel.close()


def test_bad_worker_index_is_invalid_argument(job):
    _, _, controller = job
    channel, stub = _stub(controller.address)
    with channel:
        with pytest.raises(grpc.RpcError) as err:
            stub.ReportStep(pb.ReportStepRequest(worker_index=2, step=1))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "worker_index 2" in err.value.details()
        assert stub.GetTrainingStatus(pb.GetTrainingStatusRequest()).global_step == 0


def test_ps_ctl_prints_for_people_and_scripts(job):
    model_dir, ps, _ = job
    _train_a_little(ps)
    out = _ctl(model_dir, "--json", "status")
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["global_step"] == "0" and status["last_checkpoint"] == ""
    assert _ctl(model_dir, "stop").returncode == 0
    again = _ctl(model_dir, "stop")
    assert again.returncode == 1 and "ALREADY_EXISTS" in again.stderr
    human = _ctl(model_dir, "status")
    assert "STOPPED" in human.stdout
    assert _ctl(model_dir, "resume").returncode == 0
    saved = _ctl(model_dir, "--json", "save")
    assert saved.returncode == 0, saved.stderr
    assert json.loads(saved.stdout)["path"].endswith("model.ckpt-0")
    listed = _ctl(model_dir, "checkpoints")
    assert "model.ckpt-0" in listed.stdout and "2 shards" in listed.stdout
    missing = subprocess.run([sys.executable, "-m", "services.ctl", "--model-dir",
                              str(model_dir / "nope"), "status"], capture_output=True, text=True,
                             cwd=ROOT)
    assert missing.returncode == 2 and "controller_addr does not exist" in missing.stderr


def test_controller_registers_in_discovery_and_leaves_on_sigterm(tmp_path):
    from discovery.base import DiscoveryType
    from discovery.factory import DiscoveryConfig, create_discovery
    from discovery.file import FileConfig

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    controller = start_controller(tmp_path, model_dir, num_ps=1, num_workers=1)
    config = DiscoveryConfig(DiscoveryType.FILE, file=FileConfig(str(model_dir)))
    try:
        with create_discovery(config) as discovery:
            assert discovery.query("controller") == {0: controller.address}
    finally:
        assert controller.stop() == 0, controller.log()
    with create_discovery(config) as discovery:
        assert discovery.query("controller") == {}


def test_save_without_ps_fails_cleanly_and_commits_nothing(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    controller = start_controller(tmp_path, model_dir, num_ps=1, num_workers=1,
                                  extra=["--ps-wait-s", "0.5", "--save-retries", "0"])
    try:
        out = _ctl(model_dir, "save")
        assert out.returncode == 1 and "FAILED_PRECONDITION" in out.stderr
        assert "PS [0] of 1 are not registered" in out.stderr
        assert checkpoints.read_state(model_dir) is None
        assert not list(model_dir.glob("model.ckpt-*"))
    finally:
        assert controller.stop() == 0, controller.log()
