"""A training batch: ragged ids per feature, dense features, labels, timestamps.

Every source (synthetic stream, Criteo reader, fixed tasks) yields ``Batch``;
the model and the training loop consume nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from worker.data.ragged import Ragged


@dataclass(frozen=True, eq=False)
class Batch:
    """``b`` examples.

    ``sparse``: feature key (``slot_to_key(slot)``) -> Ragged with b rows of int64 fids.
    ``dense``: (b, d) float32. ``labels``: (b,) float32 in {0, 1}.
    ``timestamps_s``: (b,) int64 data time in seconds, or None when the source has none.
    """

    sparse: Mapping[str, Ragged]
    dense: np.ndarray
    labels: np.ndarray
    timestamps_s: np.ndarray | None = None

    def __post_init__(self) -> None:
        b = self.labels.shape[0]
        if self.labels.ndim != 1:
            raise ValueError(f"labels must be 1-D, got shape {self.labels.shape}")
        if self.dense.ndim != 2 or self.dense.shape[0] != b:
            raise ValueError(f"dense must be ({b}, d), got shape {self.dense.shape}")
        if self.timestamps_s is not None and self.timestamps_s.shape != (b,):
            raise ValueError(f"timestamps_s must be ({b},), got shape {self.timestamps_s.shape}")
        for key, ragged in self.sparse.items():
            if ragged.num_rows != b:
                raise ValueError(f"sparse feature {key!r} has {ragged.num_rows} rows, "
                                 f"expected {b}")

    @property
    def size(self) -> int:
        return self.labels.shape[0]

    def slice_rows(self, start: int, stop: int) -> Batch:
        """Examples ``[start, stop)`` (views where possible)."""
        ts = None if self.timestamps_s is None else self.timestamps_s[start:stop]
        return Batch({k: r.slice_rows(start, stop) for k, r in self.sparse.items()},
                     self.dense[start:stop], self.labels[start:stop], ts)

    @staticmethod
    def concat(parts: Sequence[Batch]) -> Batch:
        """Examples of all parts in order; the parts must share feature keys."""
        if len(parts) == 1:
            return parts[0]
        keys = list(parts[0].sparse)
        for p in parts[1:]:
            if list(p.sparse) != keys:
                raise ValueError(f"cannot concat batches with feature keys {keys} and "
                                 f"{list(p.sparse)}")
        has_ts = parts[0].timestamps_s is not None
        ts = np.concatenate([p.timestamps_s for p in parts]) if has_ts else None
        return Batch({k: Ragged.concat([p.sparse[k] for p in parts]) for k in keys},
                     np.concatenate([p.dense for p in parts]),
                     np.concatenate([p.labels for p in parts]), ts)


def rebatch(batches: Iterable[Batch], batch_size: int,
            drop_remainder: bool = False) -> Iterator[Batch]:
    """Re-cut a stream of batches of any sizes into batches of ``batch_size``.

    The last, smaller batch is yielded unless ``drop_remainder``. Example order is kept.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pending: list[Batch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.size
        if count < batch_size:
            continue
        merged = Batch.concat(pending)
        start = 0
        while merged.size - start >= batch_size:
            yield merged.slice_rows(start, start + batch_size)
            start += batch_size
        rest = merged.slice_rows(start, merged.size)
        pending, count = ([rest], rest.size) if rest.size else ([], 0)
    if count and not drop_remainder:
        yield Batch.concat(pending)
