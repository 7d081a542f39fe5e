"""Pull and Push rows/s of one PS over loopback, each against the raw gRPC ceiling.

One PS process, this process as the client with ``--in-flight`` requests
outstanding, dim 16 fp32, 65,536 unique ids per request, Adagrad. The
baseline is the PS's own Diagnostics/Transfer RPC moving the same request
and reply sizes on raw bytes, measured in the same run, so the ratio says
what the PS costs over pure transport.

    python benchmarks/pull_push.py [--seconds 3] [--batch 65536] [--dim 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.pb import diagnostics_pb2
from worker.client import AsyncPSClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _timed(op, seconds: float, in_flight: int) -> tuple[int, float]:
    """Runs ``op`` from ``in_flight`` concurrent loops for ``seconds``; returns (calls, elapsed)."""
    stop = time.perf_counter() + seconds
    count = 0

    async def loop():
        nonlocal count
        while time.perf_counter() < stop:
            await op()
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(in_flight)))
    return count, time.perf_counter() - start


async def _bench(address: str, args) -> dict:
    rng = np.random.default_rng(0)
    ids = rng.choice(1 << 40, size=args.batch, replace=False).astype(np.int64)
    grads = rng.standard_normal((args.batch, args.dim)).astype(np.float32) * 1e-3
    channel = grpc.aio.insecure_channel(address, options=[
        ("grpc.max_receive_message_length", 1 << 30), ("grpc.max_send_message_length", 1 << 30)])
    transfer = channel.unary_unary("/monolith_ps.v1.Diagnostics/Transfer")
    pull_req = diagnostics_pb2.TransferRequest(
        reply_bytes=args.batch * args.dim * 4, payload=bytes(args.batch * 8)).SerializeToString()
    push_req = diagnostics_pb2.TransferRequest(
        reply_bytes=32, payload=bytes(args.batch * (8 + 4 * args.dim))).SerializeToString()
    results = {}
    async with AsyncPSClient([address]) as client:
        await client.push({"t": ids}, {"t": grads})  # rows exist: pull gathers real rows
        ops = {
            "pull": lambda: client.pull({"t": ids}),
            "push": lambda: client.push({"t": ids}, {"t": grads}),
            "ceiling_pull": lambda: transfer(pull_req, timeout=60),
            "ceiling_push": lambda: transfer(push_req, timeout=60),
        }
        for name, op in ops.items():
            await _timed(op, 0.5, args.in_flight)  # warm-up
        for _ in range(args.rounds):  # interleaved rounds so drift hits both sides alike
            for name, op in ops.items():
                calls, elapsed = await _timed(op, args.seconds, args.in_flight)
                results.setdefault(name, []).append(calls * args.batch / elapsed)
    await channel.close()
    return {name: float(np.median(v)) for name, v in results.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=65536)
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--in-flight", type=int, default=2)
    p.add_argument("--json", help="write the figures here too")
    args = p.parse_args()
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        tables = Path(tmp) / "tables.json"
        tables.write_text(json.dumps({"tables": [{
            "name": "t", "dim": args.dim, "optimizer": {"type": "adagrad"},
            "initializer": {"type": "random_uniform"}}]}))
        proc = subprocess.Popen([sys.executable, "-m", "ps_server", "--port", str(port),
                                 "--tables", str(tables), "--log-level", "WARNING"], cwd=ROOT)
        try:
            _wait(f"127.0.0.1:{port}", proc)
            r = asyncio.run(_bench(f"127.0.0.1:{port}", args))
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(60)
    print(f"1 PS, 1 client process, {args.in_flight} in flight, dim {args.dim} fp32, "
          f"{args.batch} unique ids per request, Adagrad (median of {args.rounds} rounds)")
    print(f"{'':8}{'PS rows/s':>14}{'ceiling rows/s':>16}{'ratio':>8}")
    for op in ("pull", "push"):
        print(f"{op:8}{r[op]:>14,.0f}{r['ceiling_' + op]:>16,.0f}{r[op] / r['ceiling_' + op]:>8.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"config": vars(args), "rows_per_s": r}, indent=2))
    return 0


def _wait(address: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"ps-server exited with {proc.returncode}")
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                time.sleep(0.1)
    raise SystemExit(f"ps-server at {address} not ready in {timeout_s} s")


if __name__ == "__main__":
    sys.exit(main())
