"""A stand-in worker for launcher tests: the worker side of the launch contract, nothing more.

``python -m tests.fakes.launcher_worker train --model-dir DIR --config FILE
--num-ps N --num-workers W`` with ``MLP_ROLE=worker`` and ``MLP_ROLE_INDEX=i``.
It waits for every PS in ``DIR/ps/``, checks each answers SERVING, "trains"
``train.steps`` steps writing ``DIR/progress/worker-<i>.jsonl``, and the chief
waits for every other worker to finish (as Monolith's chief does) before it
writes ``DIR/result.json``. ``"fake_worker"`` in the config scripts it:
``step_s``, ``batch``, ``eval_every``, ``fail_index`` (that worker raises on its
first step, which leaves the chief waiting forever).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from discovery.cluster import wait_for_ps
from discovery.file import FileConfig, FileServiceDiscovery

_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _check_ps(addrs: list[str]) -> None:
    for addr in addrs:
        with grpc.insecure_channel(addr) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5)
            if reply.status != health_pb2.HealthCheckResponse.SERVING:
                raise RuntimeError(f"ps at {addr} is not serving")


def _append(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(prog="launcher_worker")
    p.add_argument("command", choices=["train"])
    p.add_argument("--model-dir", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--num-ps", type=int, required=True)
    p.add_argument("--num-workers", type=int, required=True)
    p.add_argument("--discovery", choices=["file"], required=True)
    p.add_argument("--discovery-dir", required=True)
    args = p.parse_args()
    if os.environ.get("MLP_ROLE") != "worker":
        raise SystemExit(f"MLP_ROLE must be worker, got {os.environ.get('MLP_ROLE')!r}")
    bad = {k: os.environ.get(k) for k in _ONE_THREAD if os.environ.get(k) != "1"}
    if bad:
        raise SystemExit(f"BLAS thread variables must be 1, got {bad}")
    index = int(os.environ["MLP_ROLE_INDEX"])
    model_dir = Path(args.model_dir)
    config = json.loads(Path(args.config).read_text())
    steps = config["train"]["steps"]
    script = config.get("fake_worker", {})
    step_s, batch = script.get("step_s", 0.005), script.get("batch", 256)
    eval_every = script.get("eval_every", 20)

    addrs = wait_for_ps(FileServiceDiscovery(FileConfig(str(model_dir))), args.num_ps,
                        timeout_s=30, poll_interval_s=0.05)
    _check_ps(addrs)
    print(f"worker {index} found ps {addrs}", flush=True)
    progress = model_dir / "progress" / f"worker-{index}.jsonl"
    progress.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    auc = 0.5
    for step in range(1, steps + 1):
        if step == 1 and script.get("fail_index") == index:
            raise RuntimeError(f"DeadlineExceeded: worker {index} failed on its first step")
        time.sleep(step_s)
        loss = 0.45 + 0.25 * math.exp(-step / 40) + 0.01 * math.sin(step + index)
        if step % 5 == 0 or step == steps:
            _append(progress, {"step": step, "examples": step * batch, "loss": loss,
                               "time": time.time()})
        if index == 0 and (step % eval_every == 0 or step == steps):
            auc = 0.5 + 0.25 * (1 - math.exp(-step / 60))
            _append(progress, {"step": step, "eval_auc": auc, "eval_logloss": loss + 0.02,
                               "time": time.time()})
    done = model_dir / "fake_done"
    done.mkdir(exist_ok=True)
    (done / str(index)).write_text("done")
    if index == 0:
        while len(list(done.iterdir())) < args.num_workers:
            time.sleep(0.05)
        result = {"steps": steps * args.num_workers, "examples": steps * batch * args.num_workers,
                  "elapsed_s": time.time() - start, "eval_auc": auc, "eval_logloss": 0.47,
                  "calibration": 1.01, "bayes_auc": 0.78, "baseline_auc": 0.5, "mode": "async"}
        (model_dir / "result.json").write_text(json.dumps(result))
    print(f"worker {index} finished {steps} steps", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
