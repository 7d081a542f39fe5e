"""Real training clusters for tests: PS processes plus worker processes over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.procs import ROOT, ServerProcess, start_ps
from worker.config import TrainConfig

WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def write_config(model_dir: Path, config: dict) -> tuple[Path, Path]:
    """Writes the training config and the PS tables derived from it; returns both paths."""
    model_dir.mkdir(parents=True, exist_ok=True)
    config_path = model_dir / "config.json"
    config_path.write_text(json.dumps(config))
    tables_path = model_dir / "tables.json"
    tables_path.write_text(json.dumps(TrainConfig.from_dict(config).tables_json()))
    return config_path, tables_path


def start_cluster_ps(model_dir: Path, tables_path: Path, num_ps: int,
                     discovery: list[str] | None = None) -> list[ServerProcess]:
    flags = discovery or ["--discovery", "file", "--discovery-dir", str(model_dir)]
    servers = []
    try:
        for i in range(num_ps):
            servers.append(start_ps(model_dir, tables_path, shard=i, num_shards=num_ps,
                                    extra=flags))
    except Exception:
        for s in servers:
            s.stop()
        raise
    return servers


def run_workers(model_dir: Path, config_path: Path, num_ps: int, num_workers: int,
                discovery: list[str] | None = None, timeout_s: float = 300.0,
                env: dict | None = None, extra: list[str] = ()) -> list[subprocess.Popen]:
    """Runs every worker to completion (in parallel); returns their finished processes.

    ``discovery`` and ``extra`` are flags added to every worker's command line.
    """
    procs = []
    for i in range(num_workers):
        log = open(model_dir / f"worker-{i}.log", "wb")
        cmd = [sys.executable, "-m", "worker", "train", "--model-dir", str(model_dir),
               "--config", str(config_path), "--num-ps", str(num_ps),
               "--num-workers", str(num_workers), *(discovery or []), *extra]
        procs.append((subprocess.Popen(
            cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **WORKER_ENV, "MLP_ROLE": "worker", "MLP_ROLE_INDEX": str(i),
                 **(env or {})}), log))
    results = []
    try:
        for proc, log in procs:
            proc.wait(timeout_s)
            log.close()
            results.append(proc)
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def worker_log(model_dir: Path, index: int) -> str:
    path = model_dir / f"worker-{index}.log"
    return path.read_text(errors="replace") if path.exists() else ""
