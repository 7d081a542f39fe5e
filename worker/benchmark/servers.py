"""Server processes a benchmark starts itself: PS shards and a redis-server, on loopback.

Each runs on a free port with its log in a work directory, is stopped by PID
(SIGTERM, then SIGKILL), and reports its CPU time from /proc/<pid>/stat.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import ps_server
from services import health
from worker.benchmark.config import LocalPS
from worker.benchmark.types import BenchmarkError, TableSpec

_READY_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 30.0
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


@dataclass
class ServerProcess:
    """A started server: its process, ``host:port`` address and log file."""

    name: str
    proc: subprocess.Popen
    address: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def failed(self, problem: str) -> BenchmarkError:
        tail = self.log_tail().strip().splitlines()
        last = f" (last log line: {tail[-1][:300]})" if tail else ""
        return BenchmarkError(f"{self.name} at {self.address} {problem}{last}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _spawn(name: str, args: list[str], address: str, log_path: Path,
           env: dict[str, str] | None = None) -> ServerProcess:
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    return ServerProcess(name, proc, address, log_path)


def local_tables(local: LocalPS) -> tuple[TableSpec, ...]:
    return tuple(TableSpec(f"t{i}", local.dim, local.pull_dtype) for i in range(local.tables))


def _tables_json(local: LocalPS) -> str:
    return json.dumps({"tables": [{
        "name": spec.name, "dim": spec.dim, "optimizer": {"type": local.optimizer.value},
        "initializer": {"type": "random_uniform", "seed": i},
        "pull_dtype": spec.pull_dtype.value,
    } for i, spec in enumerate(local_tables(local))]})


def _wait_serving(server: ServerProcess, deadline: float) -> None:
    def exited():
        code = server.proc.poll()
        return None if code is None else f"exited with status {code}"

    try:
        ready = health.wait_serving(server.address, max(0.0, deadline - time.monotonic()), exited)
    except RuntimeError:
        raise server.failed(f"exited with status {server.proc.returncode}") from None
    if not ready:
        raise server.failed(f"not serving within {_READY_TIMEOUT_S:.0f} s")


def launch_ps(local: LocalPS, workdir: Path, host: str = "127.0.0.1") -> list[ServerProcess]:
    """Starts ``local.num_ps`` PS shards hosting ``local_tables(local)``, without waiting."""
    tables = workdir / f"tables-{local.dim}-{local.tables}-{local.optimizer.value}.json"
    tables.write_text(_tables_json(local))
    root = str(Path(ps_server.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    servers: list[ServerProcess] = []
    try:
        for shard in range(local.num_ps):
            port = free_port(host)
            args = [sys.executable, "-m", "ps_server", "--host", host, "--port", str(port),
                    "--tables", str(tables), "--shard", str(shard),
                    "--num-shards", str(local.num_ps), "--log-level", "WARNING"]
            servers.append(_spawn(f"ps {shard}", args, f"{host}:{port}",
                                  workdir / f"ps-{host}-{port}.log", env))
    except BaseException:
        stop_all(servers)
        raise
    return servers


def wait_serving(servers: list[ServerProcess]) -> None:
    """Waits until every PS of ``servers`` reports SERVING; BenchmarkError if one fails."""
    deadline = time.monotonic() + _READY_TIMEOUT_S
    for server in servers:
        _wait_serving(server, deadline)


def start_ps(local: LocalPS, workdir: Path, host: str = "127.0.0.1") -> list[ServerProcess]:
    """Starts the PS shards of ``local`` and waits until they serve; stops them on failure."""
    servers = launch_ps(local, workdir, host)
    try:
        wait_serving(servers)
    except BaseException:
        stop_all(servers)
        raise
    return servers


def start_redis(workdir: Path, host: str = "127.0.0.1") -> ServerProcess:
    """Starts a redis-server without persistence; waits until it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise BenchmarkError("redis-server not found on PATH: install it, or leave redis out "
                             "of --baselines")
    port = free_port(host)
    args = [binary, "--port", str(port), "--bind", host, "--save", "", "--appendonly", "no",
            "--protected-mode", "no", "--dir", str(workdir)]
    server = _spawn("redis-server", args, f"{host}:{port}", workdir / f"redis-{port}.log")
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise server.failed(f"exited with status {server.proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1.0) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise server.failed(f"not answering within {_READY_TIMEOUT_S:.0f} s")


def stop_all(servers: list[ServerProcess]) -> None:
    for server in servers:
        server.stop()
