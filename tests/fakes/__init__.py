"""Stand-ins for services that cannot be installed here, run as real processes on 127.0.0.1.

Each fake binds port 0, writes the port it got to ``--port-file`` and serves
until SIGTERM; ``start_fake`` waits for that file and returns a ``ServerProcess``
the test stops by PID.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.procs import ROOT, ServerProcess


def write_port_file(path: str, port: int) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, path)


def start_fake(module: str, workdir: Path, args: list[str] = (),
               timeout_s: float = 30.0) -> ServerProcess:
    """Runs ``python -m tests.fakes.<module> --port-file F *args`` and waits until it listens."""
    workdir.mkdir(parents=True, exist_ok=True)
    port_file = workdir / f"{module}.port"
    log_path = workdir / f"{module}.log"
    port_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", f"tests.fakes.{module}", "--port-file", str(port_file), *args]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                stdin=subprocess.DEVNULL)
    server = ServerProcess(proc, "", log_path, args=cmd)
    deadline = time.monotonic() + timeout_s
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"fake {module} did not start:\n{server.log()}")
        time.sleep(0.02)
    server.address = f"127.0.0.1:{port_file.read_text()}"
    return server
