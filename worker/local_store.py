"""In-process parameter store: the PS's tables and dense store without gRPC.

Same verbs as ``PSClient`` (pull, push, pull_dense, push_dense, their ``_with_dense``
pairs, submit), so the training loop runs unchanged in one process (Monolith's
local_train) and the benchmark can measure what distribution costs.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Mapping

import numpy as np

from ps_server.config import TablesConfig
from ps_server.dense import DenseStore
from ps_server.table import EmbeddingTable
from services.keys import occurrence_counts, segment_sum, unique_ids


class LocalStore:
    """Tables and dense variables held in this process."""

    def __init__(self, tables: dict):
        config = TablesConfig.from_dict(tables)
        self.tables = {t.name: EmbeddingTable(t) for t in config.tables}
        self.dense = DenseStore(config.dense_optimizer)

    def pull(self, ids: Mapping[str, np.ndarray], *, dedup: bool = True) -> dict[str, np.ndarray]:
        return {name: self.tables[name].lookup(np.asarray(v, np.int64)) for name, v in ids.items()}

    def push(self, ids, grads, *, counts=None, timestamp_s: int = 0, global_step: int = 0,
             dedup: bool = True):
        stats = {}
        for name, table_ids in ids.items():
            uniq, inverse = unique_ids(np.asarray(table_ids, np.int64))
            summed = segment_sum(np.asarray(grads[name], np.float32), inverse, uniq.shape[0])
            stats[name] = self.tables[name].apply_gradients(
                uniq, summed, occurrence_counts(inverse, uniq.shape[0]), timestamp_s or None,
                global_step)
        return stats

    def pull_dense(self, variables: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        return {name: self.dense.pull(name, None if init is None else np.asarray(init, np.float32))
                for name, init in variables.items()}

    def push_dense(self, grads: Mapping[str, np.ndarray]) -> dict[str, int]:
        return {name: self.dense.push(name, np.asarray(g, np.float32)) for name, g in grads.items()}

    def pull_with_dense(self, ids, variables, *, dedup: bool = True):
        return self.pull(ids, dedup=dedup), self.pull_dense(variables)

    def push_with_dense(self, ids, grads, dense_grads, *, counts=None, timestamp_s: int = 0,
                        global_step: int = 0, dedup: bool = True):
        stats = self.push(ids, grads, counts=counts, timestamp_s=timestamp_s,
                          global_step=global_step, dedup=dedup)
        return stats, self.push_dense(dense_grads)

    def push_sync(self, ids, grads, *, step, replicas, end_of_data=False, counts=None,
                  timestamp_s=0, dedup=True):
        if replicas != 1:
            raise ValueError("an in-process store has exactly one replica")
        return self.push(ids, grads, timestamp_s=timestamp_s, global_step=step), end_of_data

    def push_dense_sync(self, grads, *, step, replicas, end_of_data=False):
        if replicas != 1:
            raise ValueError("an in-process store has exactly one replica")
        return self.push_dense(grads), end_of_data

    def submit(self, method: str, *args, **kwargs) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(getattr(self, method)(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def close(self) -> None:
        pass
