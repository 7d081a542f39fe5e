"""Thin raw-RPC helpers for integration tests (the generated stubs plus the wire codec)."""

from __future__ import annotations

import grpc
import numpy as np

from services import wire
from services.pb import parameter_server_pb2 as pb
from services.pb import parameter_server_pb2_grpc as pb_grpc
from services.tensors import from_tensor, to_tensor

MAX = [("grpc.max_receive_message_length", 1 << 30), ("grpc.max_send_message_length", 1 << 30)]


class RawPS:
    """One PS reached through the generated stub; Pull/Push also by raw bytes."""

    def __init__(self, address: str):
        self.channel = grpc.insecure_channel(address, options=MAX)
        self.stub = pb_grpc.ParameterServerStub(self.channel)
        self.raw_pull = self.channel.unary_unary("/monolith_ps.v1.ParameterServer/Pull")
        self.raw_push = self.channel.unary_unary("/monolith_ps.v1.ParameterServer/Push")

    def close(self):
        self.channel.close()

    def pull(self, table: str, ids) -> np.ndarray:
        reply = self.raw_pull(wire.encode_pull_request([(table, np.asarray(ids, np.int64))]),
                              timeout=60)
        return wire.decode_pull_response(reply)[0]

    def push(self, table: str, ids, grads, counts=None, timestamp_s=0, global_step=0):
        msg = wire.PushMessage(
            [wire.TablePush(table, np.asarray(ids, np.int64), np.asarray(grads, np.float32),
                            None if counts is None else np.asarray(counts, np.int64))],
            timestamp_s, global_step)
        reply = pb.PushResponse.FromString(self.raw_push(wire.encode_push_request(msg),
                                                         timeout=120))
        return reply.results[0]

    def inspect(self, table: str, ids):
        reply = self.stub.InspectRows(pb.InspectRowsRequest(
            table=table, ids=to_tensor(np.asarray(ids, np.int64))), timeout=60)
        return {
            "found": from_tensor(reply.found, "found").astype(bool),
            "embeddings": from_tensor(reply.embeddings, "embeddings"),
            "slots": from_tensor(reply.slots, "slots"),
            "last_update_s": from_tensor(reply.last_update_s, "last_update_s"),
        }

    def info(self, table: str = ""):
        return self.stub.GetTableInfo(pb.GetTableInfoRequest(table=table), timeout=30).tables

    def slots(self, table: str, ids) -> dict[str, np.ndarray]:
        """Optimizer slots by name, (n, width) each."""
        layout = [(s.name, s.width) for s in self.info(table)[0].slots]
        flat = self.inspect(table, ids)["slots"]
        out, pos = {}, 0
        for name, width in layout:
            out[name] = flat[:, pos:pos + width]
            pos += width
        return out
