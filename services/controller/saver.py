"""Coordinated checkpoints: every PS writes its shard, then the controller commits.

A save asks every PS, in parallel, to write its shard into
``<model_dir>/model.ckpt-<step>/``; only when all of them reported success does
the controller write the checkpoint's ``meta.json`` and rewrite the state file,
which is the commit. A failed attempt leaves nothing committed and is retried
(``SavePolicy.retries``) on a clean directory; retention runs after a commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from services import checkpoints
from services.controller.policy import SavePolicy
from services.errors import FailedPrecondition, Internal, Unavailable
from services.files import write_text_atomic
from services.pb import checkpoint_pb2 as pb
from services.pb import checkpoint_pb2_grpc
from services.security import SecurityConfig, channel

log = logging.getLogger(__name__)

SAVE_SHARD_TIMEOUT_S = 3600.0
RETRY_BACKOFF_S = 1.0


@dataclass(frozen=True)
class SavedCheckpoint:
    path: Path
    step: int
    bytes: int
    seconds: float


class CheckpointSaver:
    """One save at a time; ``save`` returns after the commit or raises a PSError."""

    def __init__(self, model_dir: Path, ps_addresses: Callable[[], Awaitable[list[str]]],
                 policy: SavePolicy, tables_json: str = "", security: SecurityConfig | None = None,
                 metrics=None):
        self.model_dir = Path(model_dir)
        self.ps_addresses = ps_addresses
        self.policy = policy
        self.tables_json = tables_json
        self.security = security
        self.metrics = metrics
        self._lock = asyncio.Lock()
        self.last: SavedCheckpoint | None = None

    @property
    def running(self) -> bool:
        return self._lock.locked()

    async def save(self, step: int) -> SavedCheckpoint:
        if self._lock.locked():
            raise FailedPrecondition("a checkpoint save is already running; try again after it")
        async with self._lock:
            ckpt = self.model_dir / checkpoints.checkpoint_name(step)
            if ckpt in checkpoints.committed(self.model_dir):
                return await asyncio.to_thread(_existing, ckpt, step)
            start = time.perf_counter()
            attempts = 1 + self.policy.retries
            for attempt in range(1, attempts + 1):
                try:
                    saved = await self._attempt(ckpt, step, start)
                except (FailedPrecondition, Internal, Unavailable) as exc:
                    self._count("failed")
                    log.warning("checkpoint save failed", extra={
                        "checkpoint": str(ckpt), "attempt": attempt, "error": exc.message})
                    if attempt == attempts:
                        await asyncio.to_thread(checkpoints.remove_uncommitted, self.model_dir, ckpt)
                        raise
                    await asyncio.sleep(RETRY_BACKOFF_S * attempt)
                    continue
                self._count("committed")
                if self.metrics is not None:
                    self.metrics.save_seconds.observe(saved.seconds)
                    self.metrics.last_checkpoint_step.set(step)
                self.last = saved
                return saved
        raise AssertionError("unreachable")

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.saves.labels(outcome).inc()

    async def _attempt(self, ckpt: Path, step: int, start: float) -> SavedCheckpoint:
        addresses = await self.ps_addresses()
        if not addresses:
            raise FailedPrecondition("no PS is known to the controller: nothing to save")
        try:
            await asyncio.to_thread(self._prepare, ckpt)
        except OSError as exc:
            raise Internal(f"cannot create {ckpt}: {exc.strerror or exc} "
                           f"(is the model dir writable?)") from None
        # every PS finishes (or fails) before the attempt is judged, so no late writer
        # recreates files in a directory a failed attempt cleans up
        replies = await asyncio.gather(*(self._save_shard(a, ckpt, step) for a in addresses),
                                       return_exceptions=True)
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        for i, reply in enumerate(replies):
            if reply.shard != i or reply.num_shards != len(addresses):
                raise FailedPrecondition(
                    f"PS at {addresses[i]} is shard {reply.shard} of {reply.num_shards}, expected "
                    f"shard {i} of {len(addresses)}: conflicting shard counts")
        total = sum(r.bytes for r in replies)
        meta = {"step": step, "num_shards": len(addresses), "time": time.time(),
                "bytes": total, "rows": _sum_rows(replies)}
        info = pb.CheckpointInfo(step=step, num_shards=len(addresses), bytes=total,
                                 tables_json=self.tables_json)
        try:
            await asyncio.to_thread(self._commit, ckpt, meta, info)
        except OSError as exc:
            raise Internal(f"committing {ckpt} failed: {exc.strerror or exc}") from None
        seconds = time.perf_counter() - start
        log.info("checkpoint committed", extra={"checkpoint": str(ckpt), "step": step,
                                                "bytes": total, "seconds": round(seconds, 3)})
        return SavedCheckpoint(ckpt, step, total, seconds)

    def _prepare(self, ckpt: Path) -> None:
        checkpoints.remove_uncommitted(self.model_dir, ckpt)
        ckpt.mkdir(parents=True, exist_ok=True)

    def _commit(self, ckpt: Path, meta: dict, info: pb.CheckpointInfo) -> None:
        write_text_atomic(ckpt / checkpoints.CKPT_META, json.dumps(meta, indent=1))
        retention = checkpoints.Retention(self.policy.max_to_keep,
                                          self.policy.keep_checkpoint_every_n_hours)
        for path in checkpoints.commit(self.model_dir, ckpt, info, retention):
            log.info("deleted old checkpoint", extra={"checkpoint": str(path)})

    async def _save_shard(self, address: str, ckpt: Path, step: int) -> pb.SaveShardResponse:
        async with channel(address, self.security) as ch:
            stub = checkpoint_pb2_grpc.ShardCheckpointStub(ch)
            try:
                return await stub.SaveShard(pb.SaveShardRequest(path=str(ckpt), step=step),
                                            timeout=SAVE_SHARD_TIMEOUT_S)
            except grpc.aio.AioRpcError as exc:
                message = f"PS at {address}: {exc.code().name}: {exc.details()}"
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise Unavailable(message) from None
                if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    raise FailedPrecondition(message) from None
                raise Internal(message) from None


def _existing(ckpt: Path, step: int) -> SavedCheckpoint:
    """A committed checkpoint of this step is never rewritten: saving again returns it."""
    try:
        size = int(json.loads((ckpt / checkpoints.CKPT_META).read_text()).get("bytes", 0))
    except (OSError, ValueError):
        size = 0
    return SavedCheckpoint(ckpt, step, size, 0.0)


def _sum_rows(replies) -> dict[str, int]:
    rows: dict[str, int] = {}
    for r in replies:
        for name, n in r.rows.items():
            rows[name] = rows.get(name, 0) + n
    return rows
