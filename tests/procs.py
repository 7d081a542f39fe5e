"""Real server processes for tests: start on free loopback ports, wait until ready, stop by PID."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from services.health import wait_serving

ROOT = Path(__file__).resolve().parents[1]


def gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (reaped, or a zombie waiting to be)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(address: str, timeout_s: float = 60.0, proc: subprocess.Popen | None = None,
                 security=None):
    """Polls the gRPC health service until SERVING; fails early if the process exits."""
    def exited():
        if proc is not None and proc.poll() is not None:
            return f"process exited with {proc.returncode}"
        return None

    if not wait_serving(address, timeout_s, exited, security):
        raise TimeoutError(f"{address} not healthy within {timeout_s} s")


@dataclass
class ServerProcess:
    """One started server process, its address and its log file."""

    proc: subprocess.Popen
    address: str
    log_path: Path
    metrics_port: int | None = None
    args: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_records(self) -> list[dict]:
        out = []
        for line in self.log().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM by PID, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def start_ps(tmp_path: Path, tables_path: Path, *, shard: int = 0, num_shards: int = 1,
             metrics: bool = False, extra: list[str] = (), env: dict | None = None,
             wait: bool = True, port: int | None = None, security=None) -> ServerProcess:
    """``security`` (a SecurityConfig) is how the readiness probe reaches a TLS server."""
    port = port or free_port()
    metrics_port = free_port() if metrics else None
    log_path = tmp_path / f"ps-{shard}-{port}.log"
    args = [sys.executable, "-m", "ps_server", "--host", "127.0.0.1", "--port", str(port),
            "--tables", str(tables_path), "--shard", str(shard), "--num-shards", str(num_shards),
            *(["--metrics-port", str(metrics_port)] if metrics else []), *extra]
    return _launch(args, port, log_path, metrics_port, env, wait, security)


def _launch(args: list[str], port: int, log_path: Path, metrics_port: int | None,
            env: dict | None, wait: bool, security=None) -> ServerProcess:
    """Starts a server process logging to ``log_path``; with ``wait``, until it is SERVING
    (stopped again, its log printed, if it never gets there)."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, **(env or {})})
    server = ServerProcess(proc, f"127.0.0.1:{port}", log_path, metrics_port, args)
    if wait:
        try:
            wait_healthy(server.address, proc=proc, security=security)
        except Exception:
            server.stop()
            sys.stderr.write(server.log())
            raise
    return server


def start_controller(tmp_path: Path, model_dir: Path, *, num_ps: int, num_workers: int,
                     extra: list[str] = (), port: int | None = None,
                     wait: bool = True) -> ServerProcess:
    """A ``ps-controller`` on loopback finding the PS by file discovery under ``model_dir``."""
    port = port or free_port()
    log_path = tmp_path / f"controller-{port}.log"
    args = [sys.executable, "-m", "services.controller", "--host", "127.0.0.1",
            "--port", str(port), "--model-dir", str(model_dir), "--num-ps", str(num_ps),
            "--num-workers", str(num_workers), "--discovery", "file",
            "--discovery-dir", str(model_dir), *extra]
    return _launch(args, port, log_path, None, None, wait)


def cluster_ps_args(model_dir: Path) -> list[str]:
    """Flags that make a PS restore from and save into ``model_dir`` and register there."""
    return ["--model-dir", str(model_dir), "--discovery", "file", "--discovery-dir", str(model_dir)]
