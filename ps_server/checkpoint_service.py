"""The ShardCheckpoint gRPC servicer: the controller asks this PS to save its shard."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from pathlib import Path

from ps_server.checkpoint import ShardSaver
from services.errors import Internal
from services.pb import checkpoint_pb2 as pb
from services.pb import checkpoint_pb2_grpc

SERVICE_NAME = "monolith_ps.v1.ShardCheckpoint"


class ShardCheckpointService(checkpoint_pb2_grpc.ShardCheckpointServicer):
    def __init__(self, saver: ShardSaver, pool: Executor):
        self.saver = saver
        self.pool = pool

    async def SaveShard(self, request: pb.SaveShardRequest, context) -> pb.SaveShardResponse:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.pool, self.saver.save, Path(request.path),
                                                 request.step)
        except OSError as exc:
            raise Internal(f"shard {self.saver.shard}: writing {request.path} failed: "
                            f"{exc.strerror or exc}") from None
        return pb.SaveShardResponse(
            shard=self.saver.shard, num_shards=self.saver.num_shards, rows=result.rows,
            dense_variables=result.dense_variables, bytes=result.bytes, seconds=result.seconds)
