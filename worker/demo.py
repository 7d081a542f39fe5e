"""``make demo``: start one PS process, run a short pull/push session, stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from worker.client import PSClient

EXAMPLE_TABLES = Path(__file__).resolve().parents[1] / "ps_server" / "examples" / "tables.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(client: PSClient, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"ps-server exited with {proc.returncode}")
        try:
            client.table_info()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> int:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ps_server", "--port", str(port),
                             "--tables", str(EXAMPLE_TABLES)])
    try:
        with PSClient([f"127.0.0.1:{port}"]) as client:
            _wait_ready(client, proc)
            rng = np.random.default_rng(0)
            steps, batch = 20, 65536
            start = time.perf_counter()
            for step in range(steps):
                ids = {"user": rng.zipf(1.2, batch).astype(np.int64),
                       "item": rng.integers(0, 1 << 40, batch, dtype=np.int64)}
                rows = client.pull(ids)
                grads = {name: np.asarray(r, np.float32) * 0.1 + 0.01 for name, r in rows.items()}
                client.push(ids, grads, global_step=step + 1)
            elapsed = time.perf_counter() - start
            for t in client.table_info():
                print(f"table {t.config.name}: {t.rows} rows, "
                      f"{t.bytes / max(t.rows, 1):.0f} bytes/row, optimizer {t.config.optimizer.type}")
            print(f"{steps} steps of pull+push, {2 * batch} ids each: "
                  f"{steps * 2 * batch / elapsed / 1e6:.2f} M ids/s")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(30)
    print(f"ps-server exited with {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
