"""The built-in synthetic click stream: Zipf ids, planted truth, time order, sharding.

Blocks of ``config.block_size`` examples are generated independently from
``(seed, split, block)``; worker ``i`` of ``n`` owns blocks ``b % n == i`` and reads
them in order, so shards are disjoint, deterministic and each is time-ordered.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from worker.data.batch import Batch, rebatch
from worker.data.config import Split, SyntheticConfig
from worker.data.ffm import slot_to_key
from worker.data.ids import make_fids, mix64, salt
from worker.data.ragged import Ragged
from worker.data.truth import GroundTruth

_SPLIT_CODE = {Split.TRAIN: 0, Split.EVAL: 1}
_PURPOSE_IDS = 3


def zipf_ranks(rng: np.random.Generator, n: int, vocab_size: int, exponent: float) -> np.ndarray:
    """(n,) int64 ranks in [0, vocab_size), P(rank r) close to proportional to (r + 1)^-exponent.

    Inverse CDF of the continuous power law on [0.5, vocab_size + 0.5), rounded (each
    rank gets the mass around its centre): O(1) per draw with no table, so vocabularies
    of any size cost the same.
    """
    u = rng.random(n)
    lo, hi = 0.5, vocab_size + 0.5
    if abs(exponent - 1.0) < 1e-9:
        x = lo * np.exp(u * math.log(hi / lo))
    else:
        e = 1.0 - exponent
        x = (lo ** e + u * (hi ** e - lo ** e)) ** (1.0 / e)
    return np.clip((x + 0.5).astype(np.int64) - 1, 0, vocab_size - 1)


class SyntheticStream:
    """A seeded, reproducible click stream with a known true click probability.

    ``truth.probability(batch)`` scores any batch of this stream; the AUC of those
    probabilities against the sampled labels is the Bayes-optimal AUC.
    """

    def __init__(self, config: SyntheticConfig):
        self.config = config
        self.truth = GroundTruth(config)
        self._slot_salts = [salt(config.seed, _PURPOSE_IDS, s) for s in range(config.num_slots)]

    def num_blocks(self, split: Split = Split.TRAIN) -> int:
        return -(-self.config.num_split_examples(split) // self.config.block_size)

    def _positions(self, split: Split, start: int, stop: int) -> np.ndarray:
        """Position on the training timeline, (k,) float64; EVAL spreads over the same range."""
        g = np.arange(start, stop, dtype=np.float64)
        if split is Split.EVAL and self.config.num_eval_examples:
            g *= self.config.num_examples / self.config.num_eval_examples
        return g

    def block(self, split: Split, index: int) -> Batch:
        """Block ``index`` of ``split``: up to ``block_size`` consecutive examples."""
        cfg = self.config
        total = cfg.num_split_examples(split)
        if not 0 <= index < self.num_blocks(split):
            raise ValueError(f"block index must be in [0, {self.num_blocks(split)}) for "
                             f"{split.value}, got {index}")
        start = index * cfg.block_size
        stop = min(start + cfg.block_size, total)
        size = stop - start
        rng = np.random.default_rng([cfg.seed, _SPLIT_CODE[split], index])
        elapsed_s = np.floor(self._positions(split, start, stop) / cfg.examples_per_s)
        timestamps = cfg.start_time_s + elapsed_s.astype(np.int64)
        shift = np.floor(cfg.drift_ids_per_s * elapsed_s).astype(np.int64)
        sparse = {}
        for s in range(cfg.num_slots):
            if cfg.min_ids_per_slot == cfg.max_ids_per_slot:
                lengths = np.full(size, cfg.min_ids_per_slot, dtype=np.int64)
            else:
                lengths = rng.integers(cfg.min_ids_per_slot, cfg.max_ids_per_slot + 1, size)
            ranks = zipf_ranks(rng, int(lengths.sum()), cfg.vocab_size, cfg.zipf_exponent)
            if cfg.drift_ids_per_s:
                ranks -= np.repeat(shift, lengths)
            hashed = mix64(ranks.view(np.uint64) ^ self._slot_salts[s])
            sparse[slot_to_key(s)] = Ragged.from_lengths(make_fids(s, hashed), lengths)
        dense = rng.standard_normal((size, cfg.num_dense), dtype=np.float32)
        unlabeled = Batch(sparse, dense, np.zeros(size, np.float32), timestamps)
        labels = (rng.random(size) < self.truth.probability(unlabeled)).astype(np.float32)
        return Batch(sparse, dense, labels, timestamps)

    def blocks(self, split: Split = Split.TRAIN, worker_index: int = 0,
               num_workers: int = 1) -> Iterator[Batch]:
        """This worker's blocks in time order."""
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        if not 0 <= worker_index < num_workers:
            raise ValueError(f"worker_index must be in [0, {num_workers}), got {worker_index}")
        for index in range(worker_index, self.num_blocks(split), num_workers):
            yield self.block(split, index)

    def batches(self, batch_size: int, split: Split = Split.TRAIN, worker_index: int = 0,
                num_workers: int = 1, drop_remainder: bool = False) -> Iterator[Batch]:
        """This worker's part of ``split`` in batches of ``batch_size`` (one pass)."""
        return rebatch(self.blocks(split, worker_index, num_workers), batch_size, drop_remainder)
