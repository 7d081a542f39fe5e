"""Per-slot deduplication of a batch's ids: what the worker pulls and pushes."""

from __future__ import annotations

from collections.abc import Iterable

from services.keys import unique_ids
from worker.data import Batch
from worker.model.types import SlotLookup, SlotSpec


def dedup_slots(batch: Batch, slots: Iterable[SlotSpec]) -> dict[str, SlotLookup]:
    """Unique ids of each slot and where every value sits among them (host arrays).

    Uses the system's one dedup kernel, so ids come out in first-occurrence order,
    the same order the PS client sends them in.
    """
    lookups = {}
    for slot in slots:
        ragged = batch.sparse.get(slot.name)
        if ragged is None:
            raise ValueError(f"batch has no feature {slot.name!r}; it has {sorted(batch.sparse)}")
        ids, inverse = unique_ids(ragged.values)
        lookups[slot.name] = SlotLookup(ids, inverse, ragged.row_splits, ragged.value_rowids())
    return lookups
