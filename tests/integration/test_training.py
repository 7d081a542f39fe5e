"""Training end to end on real PS and worker processes over loopback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.integration.training import run_workers, start_cluster_ps, worker_log, write_config
from tests.procs import ROOT
from worker.config import TrainConfig
from worker.data import Split, SyntheticStream
from worker.model import CTRModel, dedup_slots

STEPS, BATCH, LR = 10, 64, 0.1


def _reference(config: TrainConfig, num_workers: int):
    """Plain NumPy replay of synchronous training: mean of the workers' gradients per step,
    Adagrad (initial accumulator 1) on zero-initialized rows, SGD on the dense weights."""
    model = CTRModel(config.model_config())
    stream = SyntheticStream(config.data)
    params = {k: v.astype(np.float32) for k, v in model.init_params(config.train.seed).items()}
    rows: dict[str, dict[int, np.ndarray]] = {s.name: {} for s in model.slots}
    accum: dict[str, dict[int, np.ndarray]] = {s.name: {} for s in model.slots}
    feeds = [stream.batches(BATCH, Split.TRAIN, w, num_workers, drop_remainder=True)
             for w in range(num_workers)]
    dim = config.model.dim
    for _ in range(STEPS):
        sparse: dict[str, dict[int, np.ndarray]] = {s.name: {} for s in model.slots}
        dense = {k: np.zeros_like(v) for k, v in params.items()}
        for feed in feeds:
            batch = next(feed)
            lookups = dedup_slots(batch, model.slots)
            pulled = {name: np.stack([rows[name].get(int(i), np.zeros(dim, np.float32))
                                      for i in lookups[name].ids]) for name in rows}
            result = model.forward_backward(batch, lookups, pulled, params)
            for name, grads in result.row_grads.items():
                for i, g in zip(lookups[name].ids.tolist(), grads):
                    sparse[name][i] = sparse[name].get(i, np.zeros(dim, np.float32)) + g
            for k, g in result.param_grads.items():
                dense[k] += g
        for name, grads in sparse.items():
            for i, g in grads.items():
                g = (g / np.float32(num_workers)).astype(np.float32)
                acc = accum[name].get(i, np.ones(dim, np.float32)) + g * g
                accum[name][i] = acc
                w = rows[name].get(i, np.zeros(dim, np.float32))
                rows[name][i] = (w - np.float32(LR) * g / np.sqrt(acc)).astype(np.float32)
        for k in params:
            params[k] = (params[k] - np.float32(LR) * dense[k] / np.float32(num_workers))
    return rows, params


def test_embedding_update_task_matches_numpy_reference(tmp_path):
    """Seed's EmbeddingUpdateTask: 2 PS, 2 workers, sync mode, 10 steps, zero init, Adagrad."""
    raw = {
        "data": {"num_slots": 3, "vocab_size": 40, "num_dense": 2, "num_examples": 4096,
                 "num_eval_examples": 512, "block_size": 512},
        "model": {"dim": 4, "hidden_units": [8]},
        "embedding": {"optimizer": {"type": "adagrad", "learning_rate": LR,
                                    "initial_accumulator": 1.0},
                      "initializer": {"type": "zeros"}},
        "dense_optimizer": {"type": "sgd", "learning_rate": LR},
        "train": {"steps": STEPS, "batch_size": BATCH, "mode": "sync", "log_every": 1},
    }
    config_path, tables_path = write_config(tmp_path, raw)
    servers = start_cluster_ps(tmp_path, tables_path, 2)
    try:
        procs = run_workers(tmp_path, config_path, 2, 2)
        assert [p.returncode for p in procs] == [0, 0], worker_log(tmp_path, 0) + worker_log(
            tmp_path, 1)
        config = TrainConfig.from_dict(raw)
        want_rows, want_params = _reference(config, 2)
        from worker import PSClient

        with PSClient([s.address for s in servers]) as client:
            for name, rows in want_rows.items():
                ids = np.fromiter(rows, dtype=np.int64)
                got = client.pull({name: ids})[name]
                np.testing.assert_allclose(got, np.stack([rows[i] for i in ids.tolist()]),
                                           rtol=1e-5, atol=1e-7, err_msg=name)
                assert sum(t.rows for t in client.table_info(name)) == ids.size
            got_params = client.pull_dense({k: None for k in want_params})
        for k, v in want_params.items():
            np.testing.assert_allclose(got_params[k], v, rtol=1e-5, atol=1e-7, err_msg=k)
    finally:
        for s in servers:
            s.stop()


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_short_run_learns_close_to_bayes_and_beats_frequency_baseline(tmp_path, mode):
    raw = json.loads((ROOT / "worker" / "examples" / "reference.json").read_text())
    raw["data"].update(num_examples=400_000, num_eval_examples=50_000, vocab_size=100)
    raw["train"].update(mode=mode, epochs=2, batch_size=512)
    config_path, tables_path = write_config(tmp_path, raw)
    servers = start_cluster_ps(tmp_path, tables_path, 2)
    try:
        procs = run_workers(tmp_path, config_path, 2, 2)
        assert [p.returncode for p in procs] == [0, 0], worker_log(tmp_path, 0)
    finally:
        for s in servers:
            s.stop()
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["mode"] == mode
    assert result["eval_auc"] >= result["bayes_auc"] - 0.03, result
    assert result["eval_auc"] > result["baseline_auc"], result
    assert result["examples"] >= 750_000  # sync stops at the first worker out of data


def test_export_then_predict_gives_the_cluster_evaluation_scores(tmp_path):
    import subprocess
    import sys

    raw = {"data": {"num_slots": 3, "vocab_size": 50, "num_examples": 20_000,
                    "num_eval_examples": 3_000, "block_size": 1024},
           "model": {"dim": 4, "hidden_units": [8]},
           "embedding": {"pull_dtype": "fp16"},
           "train": {"batch_size": 256}}
    config_path, tables_path = write_config(tmp_path, raw)
    servers = start_cluster_ps(tmp_path, tables_path, 2)
    try:
        procs = run_workers(tmp_path, config_path, 2, 2)
        assert [p.returncode for p in procs] == [0, 0], worker_log(tmp_path, 0)
        # workers registered under <model_dir>/worker/<i> and removed their entries on exit
        assert (tmp_path / "worker").is_dir() and not any((tmp_path / "worker").iterdir())
        evaluated = subprocess.run(
            [sys.executable, "-m", "worker", "evaluate", "--model-dir", str(tmp_path),
             "--config", str(config_path), "--num-ps", "2"], cwd=ROOT, check=True,
            capture_output=True, text=True)
        export_dir = tmp_path / "export"
        subprocess.run([sys.executable, "-m", "worker", "export", "--model-dir", str(tmp_path),
                        "--config", str(config_path), "--num-ps", "2", "--out", str(export_dir)],
                       cwd=ROOT, check=True, capture_output=True)
    finally:
        for s in servers:
            s.stop()
    scores_path = tmp_path / "scores.npy"
    subprocess.run([sys.executable, "-m", "worker", "predict", "--export", str(export_dir),
                    "--out", str(scores_path)], cwd=ROOT, check=True, capture_output=True)
    in_cluster = np.load(tmp_path / "eval_scores.npy")
    from_export = np.load(scores_path)
    assert in_cluster.shape == (3_000,)
    np.testing.assert_array_equal(from_export, in_cluster)
    result = json.loads((tmp_path / "result.json").read_text())
    from worker.model import auc

    labels = np.concatenate([b.labels for b in SyntheticStream(
        TrainConfig.from_dict(raw).data).batches(8192, Split.EVAL)])
    assert auc(labels, from_export) == pytest.approx(result["eval_auc"])
    assert json.loads(evaluated.stdout)["eval_auc"] == pytest.approx(result["eval_auc"])


def test_worker_waits_until_the_global_step(tmp_path):
    """Worker 1 starts only after the chief's steps moved the global step past 40."""
    raw = {"data": {"num_slots": 2, "vocab_size": 20, "num_examples": 40_000, "block_size": 512},
           "model": {"dim": 2, "hidden_units": [4]},
           "train": {"batch_size": 256, "steps": 60, "wait_until_step": 40, "log_every": 1}}
    config_path, tables_path = write_config(tmp_path, raw)
    servers = start_cluster_ps(tmp_path, tables_path, 1)
    try:
        procs = run_workers(tmp_path, config_path, 1, 2)
        assert [p.returncode for p in procs] == [0, 0], worker_log(tmp_path, 1)
    finally:
        for s in servers:
            s.stop()
    started = [json.loads(line) for line in worker_log(tmp_path, 1).splitlines()
               if line.startswith("{") and '"global step reached"' in line]
    assert started and started[0]["step"] >= 40
    chief = [json.loads(line) for line in
             (tmp_path / "progress" / "worker-0.jsonl").read_text().splitlines()]
    assert (tmp_path / "restore.done").exists()
    assert max(r["step"] for r in chief) == 60


def test_worker_metrics_carry_the_prefix_from_the_environment(tmp_path):
    import threading
    import urllib.request

    from tests.procs import free_port

    raw = {"data": {"num_slots": 2, "vocab_size": 20, "num_examples": 8_192, "block_size": 512},
           "model": {"dim": 2, "hidden_units": [4]}, "train": {"batch_size": 256, "steps": 20}}
    config_path, tables_path = write_config(tmp_path, raw)
    servers = start_cluster_ps(tmp_path, tables_path, 1)
    port = free_port()
    scraped = []
    done = threading.Event()

    def scrape():
        while not done.is_set():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    scraped.append(r.read().decode())
            except OSError:
                pass
            done.wait(0.05)

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        # the chief keeps its endpoint up until its evaluation ends, so scrapes see the steps
        procs = run_workers(tmp_path, config_path, 1, 1, extra=["--metrics-port", str(port)],
                            env={"MONOLITH_METRIC_PREFIX": "ranker.v2"})
        assert procs[0].returncode == 0, worker_log(tmp_path, 0)
    finally:
        done.set()
        scraper.join()
        for s in servers:
            s.stop()
    assert any('ranker_v2_worker_steps_total{worker="0"} 20.0' in text for text in scraped), \
        scraped[-1:] if scraped else "never scraped"
