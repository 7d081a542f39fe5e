"""The Diagnostics service: Transfer moves bytes and does nothing else (a transport ceiling)."""

from __future__ import annotations

import functools

import grpc

from services import wire
from services.errors import InvalidArgument
from services.pb import diagnostics_pb2 as pb

SERVICE_NAME = "monolith_ps.v1.Diagnostics"
MAX_REPLY_BYTES = 1 << 30


def _check(reply_bytes: int) -> int:
    if not 0 <= reply_bytes <= MAX_REPLY_BYTES:
        raise InvalidArgument(f"reply_bytes must be in 0..{MAX_REPLY_BYTES}, got {reply_bytes}")
    return reply_bytes


@functools.lru_cache(maxsize=8)
def _raw_reply(reply_bytes: int) -> bytes:
    return pb.TransferResponse(payload=bytes(reply_bytes)).SerializeToString()


async def transfer(request: bytes, context) -> bytes:
    return _raw_reply(_check(wire.read_varint_field(request, 1)))


async def transfer_proto(request: pb.TransferRequest, context) -> pb.TransferResponse:
    return pb.TransferResponse(payload=bytes(_check(request.reply_bytes)))


def handler() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(SERVICE_NAME, {
        "Transfer": grpc.unary_unary_rpc_method_handler(transfer),
        "TransferProto": grpc.unary_unary_rpc_method_handler(
            transfer_proto, request_deserializer=pb.TransferRequest.FromString,
            response_serializer=pb.TransferResponse.SerializeToString),
    })
