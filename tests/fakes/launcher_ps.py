"""A stand-in PS for launcher tests: the PS side of the launch contract, nothing more.

Reads its shard from ``MLP_ROLE_INDEX`` and its port from ``MLP_PORT``, serves
the gRPC health service, registers ``<dir>/ps/<i>`` once serving and removes it
on SIGTERM, saves empty shards. ``"fake_ps"`` in ``<dir>/config.json`` scripts faults:
``fail_on_start`` (exit 1 before serving), ``never_register`` (serve but never
register), ``ignore_sigterm`` (a PS that does not exit until killed),
``crash_index`` with ``crash_after_s`` (that PS exits 3 that long after registering).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from discovery.file import FileConfig, FileServiceDiscovery
from services.pb import checkpoint_pb2, checkpoint_pb2_grpc


class _EmptyShardSaver(checkpoint_pb2_grpc.ShardCheckpointServicer):
    """Saves an empty shard: a manifest listing no files."""

    def __init__(self, shard: int, num_shards: int):
        self.shard, self.num_shards = shard, num_shards

    def SaveShard(self, request, context):
        out = Path(request.path) / f"shard-{self.shard}-of-{self.num_shards}"
        out.mkdir(parents=True, exist_ok=True)
        (out / "MANIFEST.json").write_text(json.dumps({"files": {}, "tables": []}))
        return checkpoint_pb2.SaveShardResponse(shard=self.shard, num_shards=self.num_shards)


def main() -> int:
    p = argparse.ArgumentParser(prog="launcher_ps")
    p.add_argument("--tables", required=True)
    p.add_argument("--discovery", required=True, choices=["file"])
    p.add_argument("--discovery-dir", required=True)
    p.add_argument("--num-shards", type=int, required=True)
    p.add_argument("--metrics-port", type=int)
    p.add_argument("--model-dir")
    args = p.parse_args()
    if os.environ.get("MLP_ROLE") != "ps":
        raise SystemExit(f"MLP_ROLE must be ps, got {os.environ.get('MLP_ROLE')!r}")
    index, port = int(os.environ["MLP_ROLE_INDEX"]), int(os.environ["MLP_PORT"])
    if not 0 <= index < args.num_shards:
        raise SystemExit(f"MLP_ROLE_INDEX {index} outside 0..{args.num_shards - 1}")
    json.loads(Path(args.tables).read_text())
    base = Path(args.discovery_dir)
    script = json.loads((base / "config.json").read_text()).get("fake_ps", {})
    if script.get("fail_on_start"):
        raise RuntimeError(f"ps {index} cannot load its tables")

    server = grpc.server(futures.ThreadPoolExecutor(2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    addr = f"127.0.0.1:{port}"
    server.add_insecure_port(addr)
    server.start()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    checkpoint_pb2_grpc.add_ShardCheckpointServicer_to_server(
        _EmptyShardSaver(index, args.num_shards), server)
    discovery = FileServiceDiscovery(FileConfig(str(base)))
    if not script.get("never_register"):
        discovery.register("ps", index, addr)
    print(f"ps {index} serving at {addr}, pid {os.getpid()}", flush=True)

    stop = threading.Event()

    def on_sigterm(signum, frame):
        if script.get("ignore_sigterm"):
            print(f"ps {index} ignoring SIGTERM", flush=True)
            return
        stop.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    crash_after_s = script.get("crash_after_s") if script.get("crash_index") == index else None
    crash_at = time.monotonic() + (float("inf") if crash_after_s is None else crash_after_s)
    while not stop.wait(0.05):
        if time.monotonic() > crash_at:
            print(f"ps {index} lost its shard: out of memory", flush=True)
            os._exit(3)
    discovery.deregister("ps", index, addr)
    server.stop(0).wait()
    print(f"ps {index} stopped on SIGTERM", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
