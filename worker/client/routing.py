"""Pure routing of a batch to PS shards and of the replies back to batch order.

No I/O here: the client builds a ``TableRoute`` per table, sends each shard
its contiguous slice of distinct ids, and puts the replies back with one
concatenate and one gather. Kept apart so it can be tested without servers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from services.keys import occurrence_counts, segment_sum, shard_of, shard_of_name, unique_ids


def as_ids(table: str, ids) -> np.ndarray:
    """Validated ids of one table: (n,) int64; ValueError naming the table otherwise."""
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError(f"table {table!r}: ids must be 1-d, got shape {list(array.shape)}")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"table {table!r}: ids must be integers, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.int64)


@dataclass(frozen=True)
class TableRoute:
    """One table's batch, deduplicated and grouped by shard.

    ``uniq``: (m,) int64 distinct ids, shard 0's first, then shard 1's, ...
    ``bounds``: (num_shards + 1,) int64; shard s owns ``uniq[bounds[s]:bounds[s + 1]]``.
    ``inverse``: (n,) int64; request id i is ``uniq[inverse[i]]``; None when ``uniq`` is
    the request itself in order (ids not deduplicated, one shard).
    """

    table: str
    uniq: np.ndarray
    bounds: np.ndarray
    inverse: np.ndarray | None

    @property
    def size(self) -> int:
        """n, the number of ids in the request (duplicates included)."""
        return int(self.uniq.shape[0] if self.inverse is None else self.inverse.shape[0])

    @property
    def num_unique(self) -> int:
        return int(self.uniq.shape[0])

    def shard_slice(self, shard: int) -> slice:
        return slice(int(self.bounds[shard]), int(self.bounds[shard + 1]))

    def shard_ids(self, shard: int) -> np.ndarray:
        """(m_s,) int64 distinct ids owned by ``shard`` (a view of ``uniq``)."""
        return self.uniq[self.shard_slice(shard)]

    def shards(self) -> list[int]:
        """Shards that own at least one of the ids, ascending."""
        return np.flatnonzero(np.diff(self.bounds)).tolist()

    def gather(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        """Rows in request order from per-shard replies.

        ``parts``: one array per shard the table was sent to, ascending shard
        order, each (m_s, ...) answering ``shard_ids(s)``. Returns (n, ...), a
        fresh writable array of the parts' dtype.
        """
        if not parts:
            raise ValueError(f"table {self.table!r}: no reply to gather from")
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if rows.shape[0] != self.num_unique:
            raise ValueError(
                f"table {self.table!r}: replies hold {rows.shape[0]} rows "
                f"for {self.num_unique} distinct ids"
            )
        return np.array(rows) if self.inverse is None else rows[self.inverse]

    def sum_rows(self, values: np.ndarray) -> np.ndarray:
        """Rows of duplicate ids summed: (n, d) float32 -> (m, d) float32, in ``uniq`` order."""
        if self.inverse is None:
            return values
        return segment_sum(values, self.inverse, self.num_unique)

    def sum_counts(self, counts: np.ndarray | None) -> np.ndarray:
        """Occurrences per distinct id: (n,) int64 weights (1 each if None) -> (m,) int64."""
        if self.inverse is None:
            return np.ones(self.num_unique, np.int64) if counts is None else counts
        if counts is None:
            return occurrence_counts(self.inverse, self.num_unique)
        summed = np.zeros(self.num_unique, dtype=np.int64)
        np.add.at(summed, self.inverse, counts)
        return summed


def route_table(table: str, ids, num_shards: int, dedup: bool = True) -> TableRoute:
    """Deduplicates ``ids`` (n,) and groups the distinct ids by ``shard_of``.

    ``dedup=False`` skips the deduplication for callers whose ids are distinct
    already; duplicates then still give correct results (the PS sums duplicate
    pushes and answers every pulled id), only with more bytes on the wire.
    """
    ids = as_ids(table, ids)
    uniq, inverse = unique_ids(ids) if dedup else (ids, None)
    m = uniq.shape[0]
    bounds = np.zeros(num_shards + 1, dtype=np.int64)
    if num_shards == 1:
        bounds[1] = m
        return TableRoute(table, uniq, bounds, inverse)
    shard = shard_of(uniq, num_shards)
    key = shard.astype(np.uint16) if num_shards <= np.iinfo(np.uint16).max else shard
    order = np.argsort(key, kind="stable")
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m, dtype=np.int64)
    np.cumsum(np.bincount(shard, minlength=num_shards), out=bounds[1:])
    return TableRoute(table, uniq[order], bounds, rank if inverse is None else rank[inverse])


def assign_tables(routes: Sequence[TableRoute], num_shards: int) -> dict[int, list[int]]:
    """Which tables go to which shard: ``{shard: [route index, ...]}``, shards ascending.

    A shard gets every table it owns ids of. A table with no ids at all goes
    to shard 0, so its name is still checked and a pull still learns its
    width; a shard that has nothing to do is not contacted.
    """
    plan: dict[int, list[int]] = {}
    for i, route in enumerate(routes):
        for shard in route.shards() or [0]:
            plan.setdefault(shard, []).append(i)
    return dict(sorted(plan.items()))


def group_names(names: Sequence[str], num_shards: int) -> dict[int, list[str]]:
    """Dense variable names grouped by ``shard_of_name``: ``{shard: [name, ...]}``, ascending."""
    plan: dict[int, list[str]] = {}
    for name in names:
        plan.setdefault(shard_of_name(name, num_shards), []).append(name)
    return dict(sorted(plan.items()))


def check_same_tables(ids: Mapping[str, object], other: Mapping[str, object], what: str) -> None:
    """ValueError unless ``other`` has exactly the tables of ``ids``."""
    missing = [t for t in ids if t not in other]
    extra = [t for t in other if t not in ids]
    if missing or extra:
        raise ValueError(
            f"{what} must name the same tables as ids: missing {missing}, unexpected {extra}"
        )
