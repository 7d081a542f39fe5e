"""Runs of ``ps-cluster local`` as a test sees them: the launcher process, its children, cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.procs import ROOT, gone


def child_pids(model_dir: Path) -> dict[str, int]:
    body = json.loads((model_dir / "cluster.json").read_text())
    return {f"{p['role']} {p['index']}": p["pid"] for p in body["processes"]}


class Launch:
    """One ``python -m services.launcher local`` process and its model dir."""

    def __init__(self, tmp_path: Path, config: dict | None, args: list[str], stderr=None):
        self.model_dir = tmp_path / "run"
        self.out_path = tmp_path / "launcher.out"
        self.err_path = tmp_path / "launcher.err"
        argv = [sys.executable, "-m", "services.launcher", "local", "--model-dir",
                str(self.model_dir), *args]
        if config is not None:
            config_path = tmp_path / "train.json"
            config_path.write_text(json.dumps(config))
            argv += ["--config", str(config_path)]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=out,
                                         stderr=err if stderr is None else stderr)
        self.started = time.monotonic()

    def wait(self, timeout_s: float = 60) -> int:
        return self.proc.wait(timeout_s)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait_for_progress(self, num_workers: int, timeout_s: float = 60) -> None:
        """Waits until every worker wrote its first progress line."""
        deadline = time.monotonic() + timeout_s
        while len(list((self.model_dir / "progress").glob("worker-*.jsonl"))) < num_workers:
            assert self.proc.poll() is None, self.stderr
            assert time.monotonic() < deadline, "no progress written"
            time.sleep(0.05)

    def assert_all_gone(self) -> None:
        pids = child_pids(self.model_dir)
        assert pids, "no processes recorded"
        alive = {name: pid for name, pid in pids.items() if not gone(pid)}
        assert not alive, f"still running after the launcher exited: {alive}"

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if (self.model_dir / "cluster.json").exists():
            for pid in child_pids(self.model_dir).values():
                if not gone(pid):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def launch(tmp_path, request):
    started: list[Launch] = []

    def start(config: dict | None, *args: str, stderr=None) -> Launch:
        run = Launch(tmp_path, config, list(args), stderr)
        started.append(run)
        return run

    yield start
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    for run in started:
        run.cleanup()
        if failed:
            sys.stderr.write(f"\n--- launcher stdout ---\n{run.stdout}\n"
                             f"--- launcher stderr ---\n{run.stderr}\n")
            for log in sorted((run.model_dir / "logs").glob("*.log")):
                sys.stderr.write(f"--- {log.name} ---\n{log.read_text()[-5000:]}\n")
