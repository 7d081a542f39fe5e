"""The id stream of a benchmark: Zipf-skewed ranks over a vocabulary, cut into requests.

A request carries ``batch_size`` distinct ids per table, the first distinct
ids of a Zipf stream (hot ids recur across requests, as real traffic does).
Ranks become ids through a fixed 64-bit bijection, so hot ids are spread over
the key space rather than being 0, 1, 2, ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.keys import unique_ids
from worker.benchmark.config import WorkloadConfig

_ODD = np.uint64(0x9E3779B97F4A7C15)
_MAX_DRAWS_PER_ID = 64
POOL_BATCHES = 4


def zipf_ranks(rng: np.random.Generator, n: int, vocab: int, s: float) -> np.ndarray:
    """(n,) int64 ranks in [0, vocab), P(rank r) ~ (r + 1) ** -s (s = 0: uniform).

    Inverse CDF of the continuous power law on [1, vocab + 1), floored: exact
    for s = 0, within a few percent of the discrete Zipf law otherwise.
    """
    u = rng.random(n)
    top = float(vocab) + 1.0
    if s == 0:
        x = 1.0 + u * vocab
    elif s == 1:
        x = np.exp(u * np.log(top))
    else:
        a = 1.0 - s
        x = ((top ** a - 1.0) * u + 1.0) ** (1.0 / a)
    return np.minimum(x.astype(np.int64) - 1, vocab - 1)


def ids_of_ranks(ranks: np.ndarray) -> np.ndarray:
    """A fixed bijection of ranks onto int64 ids: (n,) int64 -> (n,) int64."""
    with np.errstate(over="ignore"):
        return ((ranks.astype(np.uint64) + np.uint64(1)) * _ODD).view(np.int64)


def unique_batch(rng: np.random.Generator, batch_size: int, vocab: int, s: float) -> np.ndarray:
    """The first ``batch_size`` distinct ids of a Zipf stream: (batch_size,) int64.

    ValueError when the skew is so strong that the stream repeats itself for
    more than 64 draws per wanted id (raise ``vocab`` or lower ``s``).
    """
    chunks: list[np.ndarray] = []
    drawn, chunk = 0, batch_size
    while True:
        chunks.append(zipf_ranks(rng, chunk, vocab, s))
        drawn += chunk
        uniq, _ = unique_ids(np.concatenate(chunks))
        if uniq.shape[0] >= batch_size:
            return ids_of_ranks(uniq[:batch_size])
        if drawn >= _MAX_DRAWS_PER_ID * batch_size:
            raise ValueError(
                f"zipf: {drawn} draws with skew {s} over vocab {vocab} gave only "
                f"{uniq.shape[0]} distinct ids, {batch_size} needed per request; "
                "lower --zipf or raise --vocab")
        chunk = min(2 * chunk, _MAX_DRAWS_PER_ID * batch_size - drawn)


@dataclass(frozen=True)
class BatchPool:
    """Requests a client cycles through: ``ids[k][t]`` is (batch_size,) int64 for table
    ``t`` of request ``k``; ``grads[t]`` (batch_size, dim_t) float32 serves every request."""

    ids: tuple[tuple[np.ndarray, ...], ...]
    grads: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.ids)

    def all_ids(self, table: int) -> np.ndarray:
        """Distinct ids of table ``table`` over every request of the pool: (m,) int64."""
        uniq, _ = unique_ids(np.concatenate([batch[table] for batch in self.ids]))
        return uniq


def build_pool(workload: WorkloadConfig, dims: tuple[int, ...], stream: int,
               batches: int = POOL_BATCHES) -> BatchPool:
    """``batches`` requests over len(dims) tables for the client numbered ``stream``.

    Deterministic in (workload.seed, stream); tables draw independent streams.
    """
    ids = []
    for k in range(batches):
        per_table = []
        for t in range(len(dims)):
            rng = np.random.default_rng([workload.seed, stream, t, k])
            per_table.append(unique_batch(rng, workload.batch_size, workload.vocab,
                                          workload.zipf))
        ids.append(tuple(per_table))
    grads = []
    for t, dim in enumerate(dims):
        rng = np.random.default_rng([workload.seed, stream, t, 1 << 20])
        grads.append(rng.standard_normal((workload.batch_size, dim), dtype=np.float32)
                      * np.float32(1e-3))
    return BatchPool(tuple(ids), tuple(grads))
