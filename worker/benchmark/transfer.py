"""Transport ceilings: the PS's Diagnostics/Transfer moving exactly the bytes Pull and Push move.

``exchanges`` sizes one request of the workload the way the PS client would
send it (same routing, same wire encoding) and the reply the PS would send;
``TransferClient`` then moves those sizes through ``Transfer`` (raw bytes,
pass-through serializers: gRPC alone) or ``TransferProto`` (the generated
protobuf classes on both ends), one RPC per PS per request, all at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from services import wire
from services.pb import diagnostics_pb2 as dpb
from services.pb import parameter_server_pb2 as pb
from services.security import SecurityConfig, channel
from worker.benchmark.config import Direction
from worker.benchmark.types import Target
from worker.client import DEFAULT_CHANNEL_OPTIONS
from worker.client.routing import assign_tables, route_table

_SERVICE = "/monolith_ps.v1.Diagnostics/"


@dataclass(frozen=True)
class Exchange:
    """One RPC to shard ``shard``: its request and reply message sizes in bytes."""

    shard: int
    request_bytes: int
    reply_bytes: int


def _varint_len(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def _bytes_field_len(payload: int) -> int:
    """Encoded size of a proto3 ``bytes`` field of field number < 16 holding ``payload`` bytes."""
    return 1 + _varint_len(payload) + payload if payload else 0


def payload_for(total: int, overhead: int = 0) -> int:
    """Largest payload p with overhead + encoded size of a bytes field of p <= total."""
    p = max(0, total - overhead - 2)
    while p and overhead + _bytes_field_len(p) > total:
        p -= 1
    return p


def _pull_sizes(target: Target, ids: tuple[np.ndarray, ...]) -> dict[int, tuple[int, int]]:
    num_ps = len(target.addresses)
    routes = [route_table(t.name, i, num_ps) for t, i in zip(target.tables, ids)]
    sizes = {}
    for s, idx in assign_tables(routes, num_ps).items():
        request = wire.encode_pull_request([(routes[i].table, routes[i].shard_ids(s)) for i in idx])
        reply = wire.PullReply([
            (np.float16 if target.tables[i].itemsize == 2 else np.float32,
             (routes[i].shard_ids(s).shape[0], target.tables[i].dim)) for i in idx])
        sizes[s] = (len(request), len(reply.buffer))
    return sizes


def _push_sizes(target: Target, ids: tuple[np.ndarray, ...],
                grads: tuple[np.ndarray, ...]) -> dict[int, tuple[int, int]]:
    num_ps = len(target.addresses)
    routes = [route_table(t.name, i, num_ps) for t, i in zip(target.tables, ids)]
    sizes = {}
    for s, idx in assign_tables(routes, num_ps).items():
        parts, reply = [], pb.PushResponse()
        for i in idx:
            sl = routes[i].shard_slice(s)
            parts.append(wire.TablePush(routes[i].table, routes[i].uniq[sl],
                                        grads[i][:sl.stop - sl.start]))
            reply.results.add(table=routes[i].table, applied=sl.stop - sl.start)
        request = wire.encode_push_request(wire.PushMessage(parts))
        sizes[s] = (len(request), reply.ByteSize())
    return sizes


def exchanges(target: Target, batches, grads, direction: Direction) -> list[Exchange]:
    """The RPCs of one Pull or Push request of ``target``, sized as the mean over ``batches``.

    ``batches``: requests, each a tuple of (n,) int64 ids per table; ``grads``: one
    (n, dim) float32 per table. One mean size per shard keeps every request alike.
    """
    totals: dict[int, list[tuple[int, int]]] = {}
    for ids in batches:
        sizes = (_pull_sizes(target, ids) if direction is Direction.PULL
                 else _push_sizes(target, ids, grads))
        for s, pair in sizes.items():
            totals.setdefault(s, []).append(pair)
    return [Exchange(s, int(np.mean([p[0] for p in v])), int(np.mean([p[1] for p in v])))
            for s, v in sorted(totals.items())]


def transfer_request(exchange: Exchange) -> dpb.TransferRequest:
    """A TransferRequest of ``exchange.request_bytes`` whose reply has ``reply_bytes``:
    exact, or a byte short where a length prefix would grow (and for sizes of a few bytes)."""
    reply_payload = payload_for(exchange.reply_bytes)
    head = 1 + _varint_len(reply_payload) if reply_payload else 0
    return dpb.TransferRequest(reply_bytes=reply_payload,
                               payload=bytes(payload_for(exchange.request_bytes, head)))


class TransferClient:
    """Transfer and TransferProto calls to the PS of a target, with prepared requests."""

    def __init__(self, addresses: tuple[str, ...], timeout_s: float = 120.0,
                 security: SecurityConfig | None = None):
        self._timeout_s = timeout_s
        self._channels = [channel(a, security, DEFAULT_CHANNEL_OPTIONS) for a in addresses]
        self._raw = [c.unary_unary(_SERVICE + "Transfer") for c in self._channels]
        self._proto = [c.unary_unary(
            _SERVICE + "TransferProto",
            request_serializer=dpb.TransferRequest.SerializeToString,
            response_deserializer=dpb.TransferResponse.FromString) for c in self._channels]
        self._requests: dict[Direction, list[tuple[int, bytes, dpb.TransferRequest]]] = {}

    def prepare(self, direction: Direction, plan: list[Exchange]) -> int:
        """Builds the requests of ``plan``; returns the bytes one request moves (both ways)."""
        prepared, moved = [], 0
        for ex in plan:
            message = transfer_request(ex)
            raw = message.SerializeToString()
            prepared.append((ex.shard, raw, message))
            moved += len(raw) + _bytes_field_len(message.reply_bytes)
        self._requests[direction] = prepared
        return moved

    async def call(self, direction: Direction, proto: bool) -> None:
        """One request: an RPC to every shard of the plan, in parallel."""
        rpcs = self._proto if proto else self._raw
        await asyncio.gather(*(
            rpcs[s](message if proto else raw, timeout=self._timeout_s)
            for s, raw, message in self._requests[direction]))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._channels))
