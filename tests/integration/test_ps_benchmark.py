"""``ps-benchmark`` end to end: real PS processes, a real redis-server, the real CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from tests.procs import ROOT
from worker.benchmark.config import LocalPS
from worker.benchmark.servers import launch_ps, stop_all, wait_serving

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OPERATIONS = ["ps_pull", "ps_push", "transfer_pull", "transfer_push", "transfer_proto_pull",
              "transfer_proto_push", "redis_pull", "redis_push"]
OP_FIELDS = {"operation", "backend", "direction", "seconds", "requests", "rows", "rows_per_s",
             "mb_per_s", "latency_p50_ms", "latency_p99_ms", "server_cpu_s_per_mrows",
             "client_cpu_s_per_mrows", "timeline_s", "timeline_rows_per_s"}


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worker.benchmark", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def check_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_run_starts_ps_and_redis_and_reports_every_figure(tmp_path):
    out, png = tmp_path / "run.json", tmp_path / "run.png"
    done = cli("run", "--seconds", "2", "--batch-size", "2048", "--vocab", "1000000",
               "--json", str(out), "--plot", str(png))
    assert done.returncode == 0, done.stderr
    assert "[#" not in done.stderr
    assert "ps pull" in done.stdout and "redis push" in done.stdout

    doc = json.loads(out.read_text())
    assert doc["command"] == "run" and doc["ps"]["mode"] == "started"
    assert doc["config"]["local"] == {"num_ps": 1, "dim": 16, "optimizer": "adagrad",
                                      "pull_dtype": "fp32", "tables": 1}
    assert doc["config"]["workload"]["batch_size"] == 2048 and doc["config"]["seconds"] == 2
    assert doc["seconds_per_operation"] == 0.25
    assert doc["ps"]["tables"] == [{"name": "t0", "dim": 16, "pull_dtype": "fp32"}]
    machine = doc["machine"]
    assert machine["cores"] >= 1 and machine["python"] and machine["redis_server"]
    assert all(machine["versions"][p] for p in ("grpcio", "numpy", "numba", "redis", "hiredis"))
    assert list(doc["operations"]) == OPERATIONS
    for name, op in doc["operations"].items():
        assert set(op) == OP_FIELDS, name
        assert op["requests"] > 0 and op["rows"] == op["requests"] * 2048, name
        assert op["rows_per_s"] > 0 and op["mb_per_s"] > 0, name
        assert 0 < op["latency_p50_ms"] <= op["latency_p99_ms"], name
        assert op["server_cpu_s_per_mrows"] is not None and op["client_cpu_s_per_mrows"] > 0
        assert len(op["timeline_s"]) == len(op["timeline_rows_per_s"]) > 1
    for direction in ("pull", "push"):
        assert set(doc["ratios"][direction]) == {"transfer", "transfer_proto", "redis"}
        assert all(r > 0 for r in doc["ratios"][direction].values())
    check_png(png)


def test_bad_flags_exit_2_with_one_line():
    done = cli("run", "--seconds", "-1")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "seconds" in done.stderr and not done.stdout


@pytest.fixture(scope="module")
def candidates(tmp_path_factory):
    """Four PS to choose from: fast ones on 127.0.0.1 and 127.0.0.2 (two there), and a
    genuinely slow one (dim 2048) on 127.0.0.1."""
    workdir = tmp_path_factory.mktemp("select")
    servers = []
    try:
        for host, dim in (("127.0.0.1", 8), ("127.0.0.2", 8), ("127.0.0.2", 8),
                          ("127.0.0.1", 2048)):
            servers += launch_ps(LocalPS(dim=dim), workdir, host)
        wait_serving(servers)
        yield [s.address for s in servers]
    except BaseException:
        for s in servers:
            sys.stderr.write(f"\n--- log of {s.address} (pid {s.pid}) ---\n{s.log_tail(20000)}")
        raise
    finally:
        stop_all(servers)


def test_run_attached_says_na_for_ps_cpu(candidates, tmp_path):
    out = tmp_path / "attached.json"
    done = cli("run", "--ps", candidates[0], "--seconds", "0.6", "--batch-size", "1024",
               "--vocab", "100000", "--baselines", "transfer", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "n/a" in done.stdout
    doc = json.loads(out.read_text())
    assert doc["ps"] == {"mode": "attached", "addresses": [candidates[0]],
                         "tables": [{"name": "t0", "dim": 8, "pull_dtype": "fp32"}]}
    assert doc["config"]["local"] is None
    assert list(doc["operations"]) == OPERATIONS[:4]
    for op in doc["operations"].values():
        assert op["server_cpu_s_per_mrows"] is None and op["rows_per_s"] > 0


def test_select_keeps_the_faster_ps(candidates, tmp_path):
    fast, slow = candidates[0], candidates[3]
    out = tmp_path / "selected"
    done = cli("select", "--ps", f"{slow},{fast}", "--num-ps-required", "1",
               "--benchmark-secs", "0.4", "--batch-size", "1024", "--vocab", "100000",
               "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{fast}\n"
    assert out.read_text() == f"{fast}\n"
    assert f"{slow}: " in done.stderr and f"{fast}: " in done.stderr


def test_select_adds_up_ps_of_the_same_host(candidates):
    """Planted delays make 127.0.0.1's PS the fastest alone (a ~ 1.5 b), but the two PS of
    127.0.0.2 together beat it, so the faster of those two is chosen first."""
    alone, pair = candidates[0], candidates[1:3]
    delays = [f"--delay-ms={alone}=100", f"--delay-ms={pair[0]}=150", f"--delay-ms={pair[1]}=150"]
    done = cli("select", "--ps", ",".join([alone, *pair]), "--num-ps-required", "2",
               "--benchmark-secs", "0.8", "--batch-size", "512", "--vocab", "100000", *delays)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.strip().split(",")
    assert first in pair and second == alone, done.stderr
