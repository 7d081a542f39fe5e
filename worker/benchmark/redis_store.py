"""The Redis-backed embedding store a team reaches for instead of a PS (as TFRA does).

One key per row (table index byte + the id's 8 little-endian bytes), the row's
raw bytes as the value, in the dtype the PS would pull. Pull is a pipelined
MGET; push is what a client must do without a server-side optimizer: MGET,
SGD in NumPy, MSET. redis-py with its hiredis parser; requests in flight run
on threads, each with its own connection. Keys are built once, before the
clock runs, so the baseline pays only for Redis itself and the row bytes.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import redis

from worker.benchmark.types import TableSpec
from worker.benchmark.workload import BatchPool

_CHUNK = 10_000
SGD_LEARNING_RATE = 0.01


def _keys(table: int, ids: np.ndarray) -> list[bytes]:
    prefix = bytes([table])
    raw = ids.astype("<i8").tobytes()
    return [prefix + raw[i:i + 8] for i in range(0, len(raw), 8)]


def _chunks(items: list, size: int):
    for lo in range(0, len(items), size):
        yield items[lo:lo + size]


class RedisStore:
    """Rows of the pool's tables in the Redis at ``address``; ``pull``/``push`` request k."""

    def __init__(self, address: str, tables: tuple[TableSpec, ...], pool: BatchPool,
                 in_flight: int):
        host, _, port = address.rpartition(":")
        self._redis = redis.Redis(host=host, port=int(port),
                                  max_connections=in_flight + 1, socket_timeout=120)
        self._tables = tables
        self._pool = pool
        self._dtypes = [np.dtype(np.float16 if t.itemsize == 2 else np.float32) for t in tables]
        self._keys = [[_keys(t, batch[t]) for t in range(len(tables))] for batch in pool.ids]
        self._executor = ThreadPoolExecutor(in_flight, thread_name_prefix="redis")

    def populate(self) -> None:
        """Stores a row for every id of the pool (uniform in [-0.05, 0.05])."""
        rng = np.random.default_rng(0)
        for t, spec in enumerate(self._tables):
            ids = self._pool.all_ids(t)
            rows = rng.uniform(-0.05, 0.05, (ids.shape[0], spec.dim)).astype(self._dtypes[t])
            self._mset(_keys(t, ids), rows)

    def request_bytes(self, push: bool) -> int:
        """Key and value bytes one pull (or push: MGET then MSET) moves."""
        n = self._pool.ids[0][0].shape[0]
        one = sum(n * (9 + spec.dim * dt.itemsize) for spec, dt in zip(self._tables, self._dtypes))
        return 2 * one if push else one

    def _mget(self, keys: list[bytes], dtype: np.dtype, dim: int) -> np.ndarray:
        pipe = self._redis.pipeline(transaction=False)
        for chunk in _chunks(keys, _CHUNK):
            pipe.execute_command("MGET", *chunk)
        values = [v for reply in pipe.execute() for v in reply]
        if any(v is None for v in values):
            raise RuntimeError("redis: a row is missing (was the store populated?)")
        return np.frombuffer(b"".join(values), dtype=dtype).reshape(len(keys), dim)

    def _mset(self, keys: list[bytes], rows: np.ndarray) -> None:
        raw = np.ascontiguousarray(rows).tobytes()
        width = rows.shape[1] * rows.dtype.itemsize
        pipe = self._redis.pipeline(transaction=False)
        for lo in range(0, len(keys), _CHUNK):
            args = []
            for i, key in enumerate(keys[lo:lo + _CHUNK], lo):
                args += (key, raw[i * width:(i + 1) * width])
            pipe.execute_command("MSET", *args)
        pipe.execute()

    def _pull(self, k: int) -> None:
        for t, spec in enumerate(self._tables):
            self._mget(self._keys[k][t], self._dtypes[t], spec.dim)

    def _push(self, k: int) -> None:
        for t, spec in enumerate(self._tables):
            keys = self._keys[k][t]
            rows = self._mget(keys, self._dtypes[t], spec.dim).astype(np.float32)
            rows -= np.float32(SGD_LEARNING_RATE) * self._pool.grads[t]
            self._mset(keys, rows.astype(self._dtypes[t], copy=False))

    async def pull(self, k: int) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._pull, k)

    async def push(self, k: int) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._push, k)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._redis.close()
