"""Pooling of a slot's embedding rows per example, forward and backward, over ``xp``.

Inputs are the batch's unique rows (u, dim) and index arrays; the gradient comes
back per unique row, summed over every occurrence, ready to push.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from worker.model.backend import from_host, scatter_add
from worker.model.types import Pooling, SlotLookup, SlotSpec


@dataclass(frozen=True, eq=False)
class SlotIndex:
    """A slot's index arrays on the device.

    ``inverse``, ``rowids``: (nnz,) int64. ``num_rows``: b. ``num_unique``: u.
    ``inv_lengths``: (b, 1) 1 / max(row length, 1), for MEAN.
    ``taken``, ``taken_rows``, ``taken_pos``: (k,) int64 value index, row and position of
    the values FIRST_N keeps.
    """

    inverse: Any
    rowids: Any
    num_rows: int
    num_unique: int
    inv_lengths: Any = None
    taken: Any = None
    taken_rows: Any = None
    taken_pos: Any = None


def slot_index(xp: ModuleType, spec: SlotSpec, lookup: SlotLookup, dtype: Any) -> SlotIndex:
    """Move one slot's lookup to the device and derive what ``spec.pooling`` needs."""
    inverse = from_host(xp, lookup.inverse)
    rowids = from_host(xp, lookup.value_rowids)
    num_rows = lookup.row_splits.shape[0] - 1
    num_unique = lookup.ids.shape[0]
    if spec.pooling is Pooling.MEAN:
        splits = from_host(xp, lookup.row_splits)
        lengths = xp.maximum(splits[1:] - splits[:-1], 1).astype(dtype)
        return SlotIndex(inverse, rowids, num_rows, num_unique, inv_lengths=(1 / lengths)[:, None])
    if spec.pooling is Pooling.FIRST_N:
        splits = from_host(xp, lookup.row_splits)
        pos = xp.arange(rowids.shape[0], dtype=xp.int64) - splits[rowids]
        taken = xp.nonzero(pos < spec.first_n)[0]
        return SlotIndex(inverse, rowids, num_rows, num_unique, taken=taken,
                         taken_rows=rowids[taken], taken_pos=pos[taken])
    return SlotIndex(inverse, rowids, num_rows, num_unique)


def pool_forward(xp: ModuleType, spec: SlotSpec, rows: Any, index: SlotIndex) -> Any:
    """rows: (u, dim) -> pooled (b, spec.output_width), rows' dtype."""
    if spec.pooling is Pooling.FIRST_N:
        out = xp.zeros((index.num_rows, spec.first_n, spec.dim), dtype=rows.dtype)
        out[index.taken_rows, index.taken_pos] = rows[index.inverse[index.taken]]
        return out.reshape(index.num_rows, spec.output_width)
    pooled = scatter_add(xp, index.rowids, rows[index.inverse], index.num_rows)
    if spec.pooling is Pooling.MEAN:
        pooled = pooled * index.inv_lengths
    return pooled


def pool_backward(xp: ModuleType, spec: SlotSpec, grad_pooled: Any, index: SlotIndex) -> Any:
    """grad_pooled: (b, spec.output_width) -> (u, dim) gradient per unique row."""
    if spec.pooling is Pooling.FIRST_N:
        grad3 = grad_pooled.reshape(index.num_rows, spec.first_n, spec.dim)
        return scatter_add(xp, index.inverse[index.taken],
                           grad3[index.taken_rows, index.taken_pos], index.num_unique)
    if spec.pooling is Pooling.MEAN:
        grad_pooled = grad_pooled * index.inv_lengths
    return scatter_add(xp, index.inverse, grad_pooled[index.rowids], index.num_unique)
