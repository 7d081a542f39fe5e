"""Discovery end to end: real PS and worker processes finding each other through each backend.

Training: one short synchronous job per backend (file, ZooKeeper on a real server,
Consul on the fake agent) from the same seed must end with the same evaluation
and the same table and dense values. Sync steps apply the mean of every
worker's gradients once, so runs differ at most by float summation order.

Shutdown: a PS started with a backend appears in that backend's ``query("ps")``
once serving and is gone after SIGTERM. ZooKeeper, Consul and file entries are
removed by the PS's deregister. MLP's deregister only filters inside the calling
process (the environment cannot change), so another process sees a stopped PS
vanish through the backend's port check instead. TF_CONFIG has nothing to
deregister: the launcher fixes the cluster, so its query stays the same.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from discovery import (
    ConsulServiceDiscovery,
    FileConfig,
    FileServiceDiscovery,
    MLPServiceDiscovery,
    ServiceDiscovery,
    TfConfigServiceDiscovery,
    ZKServiceDiscovery,
)
from tests.integration.discovery.helpers import eventually, fast_consul_config, fast_zk_config
from tests.integration.training import run_workers, start_cluster_ps, worker_log, write_config
from tests.procs import ServerProcess, free_port, start_ps
from worker import PSClient
from worker.config import TrainConfig
from worker.model import CTRModel

NUM_PS, NUM_WORKERS, STEPS = 2, 2, 20
TOLERANCE = 1e-6
CONFIG = {
    "data": {"num_slots": 3, "vocab_size": 60, "num_dense": 2, "num_examples": 4096,
             "num_eval_examples": 512, "block_size": 512, "seed": 7},
    "model": {"dim": 4, "hidden_units": [8]},
    "embedding": {"optimizer": {"type": "adagrad", "learning_rate": 0.1},
                  "initializer": {"type": "random_uniform", "minval": -0.05, "maxval": 0.05,
                                  "seed": 3}},
    "dense_optimizer": {"type": "adam", "learning_rate": 0.01},
    "train": {"steps": STEPS, "batch_size": 64, "mode": "sync", "log_every": 5, "seed": 11},
}
PS_DEREGISTER_FAILED = "deregistering from discovery failed"


@dataclass(frozen=True)
class Backend:
    """Discovery flags for the processes and a matching client for the test."""

    flags: list[str]
    open: Callable[[], ServiceDiscovery]


def _backend(kind: str, request, base_dir: Path) -> Backend:
    """Flags and client for ``kind``; starts only the service that backend needs."""
    if kind == "file":
        return Backend(["--discovery", "file", "--discovery-dir", str(base_dir)],
                       lambda: FileServiceDiscovery(FileConfig(str(base_dir))))
    job = f"job-{uuid.uuid4().hex[:8]}"
    if kind == "zk":
        server = request.getfixturevalue("zk_server")
        return Backend(["--discovery", "zk", "--zk-servers", server.address, "--zk-job", job],
                       lambda: ZKServiceDiscovery(fast_zk_config(server, job_name=job)))
    agent = request.getfixturevalue("consul_agent")
    host, port = agent.address.rsplit(":", 1)
    return Backend(["--discovery", "consul", "--consul-id", job, "--consul-host", host,
                    "--consul-port", port],
                   lambda: ConsulServiceDiscovery(fast_consul_config(agent, consul_id=job)))


def _logs(servers: list[ServerProcess], model_dir: Path) -> str:
    parts = [f"--- ps {s.address} (pid {s.pid}) ---\n{s.log()[-5000:]}" for s in servers]
    parts += [f"--- worker {i} ---\n{worker_log(model_dir, i)[-5000:]}"
              for i in range(NUM_WORKERS)]
    return "\n".join(parts)


# Training with each backend.

@dataclass(frozen=True)
class Outcome:
    """What a finished job leaves behind: the chief's result.json and the PS contents."""

    result: dict
    rows: dict[str, tuple[np.ndarray, np.ndarray]]  # table -> ids (k,) int64 sorted, rows (k, dim)
    dense: dict[str, np.ndarray]


def _train(model_dir: Path, backend: Backend) -> Outcome:
    """Runs the job with ``backend`` on fresh PS; reads every row and dense variable back."""
    config_path, tables_path = write_config(model_dir, CONFIG)
    config = TrainConfig.from_dict(CONFIG)
    dense_names = sorted(CTRModel(config.model_config()).init_params(config.train.seed))
    servers = start_cluster_ps(model_dir, tables_path, NUM_PS, discovery=backend.flags)
    try:
        with backend.open() as discovery:
            want = {i: s.address for i, s in enumerate(servers)}
            assert eventually(lambda: discovery.query("ps") == want), _logs(servers, model_dir)
        procs = run_workers(model_dir, config_path, NUM_PS, NUM_WORKERS, discovery=backend.flags,
                            timeout_s=120.0)
        assert [p.returncode for p in procs] == [0] * NUM_WORKERS, _logs(servers, model_dir)
        rows = {}
        with PSClient([s.address for s in servers]) as client:
            for table in config.table_names():
                ids = np.sort(client.export_rows(table)[0])
                rows[table] = (ids, client.pull({table: ids})[table])
            dense = client.pull_dense({name: None for name in dense_names})
    finally:
        codes = [s.stop() for s in servers]
    assert codes == [0] * NUM_PS, _logs(servers, model_dir)
    return Outcome(json.loads((model_dir / "result.json").read_text()), rows, dense)


@pytest.fixture(scope="module")
def file_outcome(tmp_path_factory, request) -> Outcome:
    """The reference run: file discovery under the model dir, as ``ps-cluster local`` does."""
    model_dir = tmp_path_factory.mktemp("train-file")
    return _train(model_dir, _backend("file", request, model_dir))


def test_file_discovery_job_trains(file_outcome):
    result = file_outcome.result
    assert result["mode"] == "sync"
    assert result["steps"] == STEPS * NUM_WORKERS
    assert result["eval_examples"] == CONFIG["data"]["num_eval_examples"]
    assert 0.5 < result["eval_auc"] <= 1.0 and np.isfinite(result["eval_logloss"])
    for table, (ids, rows) in file_outcome.rows.items():
        assert ids.size > 0 and rows.shape == (ids.size, CONFIG["model"]["dim"]), table


@pytest.mark.parametrize("kind", ["zk", "consul"])
def test_job_with_service_discovery_matches_file_discovery(kind, tmp_path, request,
                                                           file_outcome):
    """Same seed, same config: ZooKeeper / Consul discovery change nothing in the outcome."""
    got = _train(tmp_path, _backend(kind, request, tmp_path))
    # The workers found the PS through the service, not through files under the model dir.
    assert not (tmp_path / "ps").exists()
    want = file_outcome
    for key in ("mode", "steps", "examples", "eval_examples"):
        assert got.result[key] == want.result[key], key
    for key in ("eval_auc", "eval_logloss", "calibration"):
        assert got.result[key] == pytest.approx(want.result[key], abs=TOLERANCE), key
    assert sorted(got.rows) == sorted(want.rows)
    for table, (want_ids, want_rows) in want.rows.items():
        got_ids, got_rows = got.rows[table]
        np.testing.assert_array_equal(got_ids, want_ids, err_msg=table)
        np.testing.assert_allclose(got_rows, want_rows, rtol=0, atol=TOLERANCE, err_msg=table)
    assert sorted(got.dense) == sorted(want.dense)
    for name, value in want.dense.items():
        np.testing.assert_allclose(got.dense[name], value, rtol=0, atol=TOLERANCE, err_msg=name)


# A PS leaving on SIGTERM.

@pytest.fixture
def tables_path(tmp_path) -> Path:
    return write_config(tmp_path / "job", CONFIG)[1]


def _ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports."""
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def _sigterm(server: ServerProcess) -> int:
    server.signal(signal.SIGTERM)
    return server.proc.wait(30)


@pytest.mark.parametrize("kind", ["file", "zk", "consul"])
def test_ps_deregisters_on_sigterm(kind, tmp_path, request, tables_path):
    backend = _backend(kind, request, tmp_path / "discovery")
    server = start_ps(tmp_path, tables_path, shard=1, num_shards=2, extra=backend.flags)
    try:
        with backend.open() as discovery:
            assert eventually(lambda: discovery.query("ps") == {1: server.address}), server.log()
            assert _sigterm(server) == 0, server.log()
            assert eventually(lambda: discovery.query("ps") == {}), server.log()
        assert PS_DEREGISTER_FAILED not in server.log()
    finally:
        server.stop()


def _mlp_env(live_port: int, dead_port: int) -> dict[str, str]:
    """PS 1 of 2 at ``live_port``; PS 0's port has nothing behind it."""
    return {"MLP_ROLE": "ps", "MLP_ROLE_INDEX": "1", "MLP_PORT": str(live_port),
            "MLP_PS_NUM": "2", "MLP_PS_ALL_HOSTS": "127.0.0.1,127.0.0.1",
            "MLP_PS_0_PORT": str(dead_port), "MLP_PS_1_PORT": str(live_port)}


def test_mlp_ps_leaves_query_on_sigterm(tmp_path, tables_path):
    """Another process sees a PS through the layout and its open port, and loses it on exit."""
    port, dead_port = _ports(2)
    env = _mlp_env(port, dead_port)
    server = start_ps(tmp_path, tables_path, shard=1, num_shards=2, port=port, env=env,
                      extra=["--discovery", "mlp"])
    try:
        discovery = MLPServiceDiscovery(env)
        want = {1: f"127.0.0.1:{port}"}
        assert server.address == want[1]
        assert eventually(lambda: discovery.query("ps") == want), server.log()
        assert _sigterm(server) == 0, server.log()
        assert discovery.query("ps") == {}
        assert PS_DEREGISTER_FAILED not in server.log()
    finally:
        server.stop()


def test_tf_config_ps_stops_cleanly_and_cluster_stays_fixed(tmp_path, tables_path):
    """TF_CONFIG register/deregister are no-ops: the PS serves and exits 0; the layout stands."""
    other_ps, port, worker = _ports(3)
    cluster = {"ps": [f"127.0.0.1:{other_ps}", f"127.0.0.1:{port}"],
               "worker": [f"127.0.0.1:{worker}"]}
    tf_config = json.dumps({"cluster": cluster, "task": {"type": "ps", "index": 1}})
    server = start_ps(tmp_path, tables_path, shard=1, num_shards=2, port=port,
                      env={"TF_CONFIG": tf_config}, extra=["--discovery", "tf_config"])
    try:
        discovery = TfConfigServiceDiscovery(tf_config)
        want = dict(enumerate(cluster["ps"]))
        assert discovery.query("ps") == want
        assert _sigterm(server) == 0, server.log()
        assert discovery.query("ps") == want
        assert PS_DEREGISTER_FAILED not in server.log()
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["zk", "consul"])
def test_ps_cluster_local_trains_over_the_backend(kind, request, tmp_path):
    """`ps-cluster local --discovery ...` hands the backend to every process and finishes."""
    import json
    import subprocess
    import sys

    from tests.procs import ROOT

    backend = _backend(kind, request, tmp_path / "unused")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    model_dir = tmp_path / "model"
    run = subprocess.run([sys.executable, "-m", "services.launcher", "local", "--num-ps", "2",
                          "--num-workers", "2", "--model-dir", str(model_dir),
                          "--config", str(config), *backend.flags],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads((model_dir / "result.json").read_text())
    assert result["steps"] == 2 * CONFIG["train"]["steps"]
    assert not (model_dir / "ps").exists()  # the PS were found through the backend, not files
    with backend.open() as discovery:
        assert discovery.query("ps") == {} and discovery.query("worker") == {}
