"""``ps-ctl``: operate a running job through its controller (stop, resume, status, save).

The controller is found through ``--addr`` or ``<model_dir>/controller_addr``.
Output is for people by default and JSON with ``--json``. Exit codes: 0 done,
1 the controller refused (the message says why), 2 usage, 3 unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import grpc
from google.protobuf.json_format import MessageToDict

from services.controller import ADDR_FILE
from services.pb import controller_pb2 as pb
from services.pb import controller_pb2_grpc
from services.security import add_security_args, security_config, sync_channel

COMMANDS = ("stop", "resume", "status", "save", "checkpoints")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="ps-ctl", description=__doc__.splitlines()[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--model-dir", type=Path, help="find the controller via DIR/controller_addr")
    where.add_argument("--addr", help="controller address host:port")
    p.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    p.add_argument("--timeout-s", type=float, default=10.0,
                   help="deadline of each call (a save waits up to 1 h)")
    add_security_args(p, "client")
    p.add_argument("command", choices=COMMANDS)
    return p.parse_args(argv), p


def _address(args, parser) -> str:
    if args.addr:
        return args.addr
    path = args.model_dir / ADDR_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        parser.exit(2, f"ps-ctl: {path} does not exist: is a controller running for "
                       f"{args.model_dir}?\n")


def _dict(message) -> dict:
    return MessageToDict(message, preserving_proto_field_name=True,
                         always_print_fields_with_no_presence=True)


def _human(command: str, reply, block=None) -> str:
    if command == "stop":
        return "training stopped: workers wait at the barrier after their current step"
    if command == "resume":
        return "training resumed"
    if command == "save":
        return f"checkpoint committed: {reply.path} (step {reply.step}, {reply.bytes} bytes, " \
               f"{reply.seconds:.2f} s)"
    if command == "checkpoints":
        if not reply.checkpoints:
            return "no committed checkpoints"
        exempt = set(reply.exempt_paths)
        return "\n".join(f"{c.path}  step {c.step}  {c.num_shards} shards  {c.bytes} bytes"
                         f"{'  (exempt)' if c.path in exempt else ''}" for c in reply.checkpoints)
    lines = [f"global step {reply.global_step}; {reply.workers_alive} of {reply.num_workers} "
             f"workers alive; {reply.num_ps} ps; "
             f"{'STOPPED' if reply.stopped else 'finished' if reply.finished else 'running'}",
             f"last checkpoint: {reply.last_checkpoint or 'none'}"
             + (f" (step {reply.last_checkpoint_step})" if reply.last_checkpoint else "")]
    if block is not None:
        lines.append(f"blocked at the barrier: {list(block.blocked_indices)}; "
                     f"not blocked: {list(block.unblocked_indices)}")
    for w in reply.workers:
        state = "finished" if w.finished else "blocked" if w.blocked else \
            "alive" if w.alive else "silent"
        lines.append(f"  worker {w.index}: step {w.step}, {state}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args, parser = parse_args(argv)
    try:
        security = security_config(args)
    except ValueError as exc:
        parser.exit(2, f"ps-ctl: {exc}\n")
    address = _address(args, parser)
    with sync_channel(address, security) as channel:
        stub = controller_pb2_grpc.ControllerStub(channel)
        timeout = 3600.0 if args.command == "save" else args.timeout_s
        try:
            block = None
            if args.command == "stop":
                reply = stub.StopTraining(pb.StopTrainingRequest(), timeout=timeout)
            elif args.command == "resume":
                reply = stub.ResumeTraining(pb.ResumeTrainingRequest(), timeout=timeout)
            elif args.command == "save":
                reply = stub.SaveCheckpoint(pb.SaveCheckpointRequest(), timeout=timeout)
            elif args.command == "checkpoints":
                reply = stub.ListCheckpoints(pb.ListCheckpointsRequest(), timeout=timeout)
            else:
                reply = stub.GetTrainingStatus(pb.GetTrainingStatusRequest(), timeout=timeout)
                block = stub.GetBlockStatus(pb.GetBlockStatusRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            print(f"ps-ctl: {args.command}: {code.name}: {exc.details()}", file=sys.stderr)
            unreachable = code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            return 3 if unreachable else 1
    if args.json:
        out = _dict(reply)
        if block is not None:
            out["block_status"] = _dict(block)
        print(json.dumps(out, indent=2))
    else:
        print(_human(args.command, reply, block))
    return 0


if __name__ == "__main__":
    sys.exit(main())
