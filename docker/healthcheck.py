#!/usr/bin/env python3
"""``monolith-ps-health``: the image's HEALTHCHECK; exit 0 healthy, 1 not.

Reads ``$MONOLITH_PS_RUN_DIR/entry.json`` (written by the entrypoint). A ps or
controller is healthy when its standard gRPC health service answers SERVING; a
role without a gRPC server (a worker) while its process runs.

    monolith-ps-health [--address HOST:PORT] [--timeout-s S]
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def check_grpc(address: str, timeout_s: float) -> str | None:
    """None when ``address`` answers SERVING, else why not."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout_s)
        except grpc.RpcError as exc:
            return f"{address}: {exc.code().name}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return None


def check_process(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"process {pid} is gone"
    except PermissionError:
        pass  # exists, owned by someone else
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="monolith-ps-health", description=__doc__.splitlines()[0])
    p.add_argument("--address", help="gRPC address to check (default: the role's, from entry.json)")
    p.add_argument("--timeout-s", type=float, default=3.0)
    args = p.parse_args(argv)
    if args.address:
        problem = check_grpc(args.address, args.timeout_s)
    else:
        path = os.path.join(os.environ.get("MONOLITH_PS_RUN_DIR", "/tmp/monolith-ps"), "entry.json")
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError) as exc:
            print(f"monolith-ps-health: not started: {exc}", file=sys.stderr)
            return 1
        if state.get("grpc_address"):
            problem = check_grpc(state["grpc_address"], args.timeout_s)
        else:
            problem = check_process(int(state["pid"]))
    if problem:
        print(f"monolith-ps-health: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
