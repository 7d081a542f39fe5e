"""Flatten a nested structure of arrays to a flat list and rebuild it (Monolith's nested_tensors).

Used to move a whole batch structure (dicts, lists, tuples of arrays, Ragged and
constants) through code that only handles lists of arrays, e.g. a prefetch queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from worker.data.ragged import Ragged

_ARRAY, _RAGGED, _CONSTANT = 0, 1, 2
_CONSTANT_TYPES = (bool, int, str, type(None))


@dataclass(frozen=True)
class _Leaf:
    kind: int
    index: int


def _kind_of(leaf: Any) -> int | None:
    if isinstance(leaf, np.ndarray):
        return _ARRAY
    if isinstance(leaf, Ragged):
        return _RAGGED
    if isinstance(leaf, _CONSTANT_TYPES):
        return _CONSTANT
    return None


class NestedArrays:
    """Splits ``nested`` into arrays and a template; the input is not modified.

    ``arrays()`` lists plain arrays first, then ``values, row_splits`` of each Ragged.
    Constants (bool, int, str, None) stay in the template. The same object appearing
    twice is stored once. Any other leaf raises ValueError.
    """

    def __init__(self, nested: Any):
        self._arrays: list[np.ndarray] = []
        self._ragged: list[Ragged] = []
        self._constants: list[Any] = []
        self._by_id: dict[int, _Leaf] = {}
        self._template = self._walk(nested)

    def _walk(self, nested: Any) -> Any:
        if nested is None:
            return None
        if isinstance(nested, (list, tuple)):
            return type(nested)(self._walk(v) for v in nested)
        if isinstance(nested, dict):
            return {k: self._walk(v) for k, v in nested.items()}
        return self._add(nested)

    def _add(self, leaf: Any) -> _Leaf:
        known = self._by_id.get(id(leaf))
        if known is not None:
            return known
        kind = _kind_of(leaf)
        if kind is None:
            raise ValueError(f"Tensor is not supported. {leaf!r}")
        pool = {_ARRAY: self._arrays, _RAGGED: self._ragged, _CONSTANT: self._constants}[kind]
        entry = _Leaf(kind, len(pool))
        pool.append(leaf)
        self._by_id[id(leaf)] = entry
        return entry

    def arrays(self) -> list[np.ndarray]:
        """Plain arrays, then ``[values_0, row_splits_0, values_1, ...]``."""
        flat = list(self._arrays)
        for r in self._ragged:
            flat += [r.values, r.row_splits]
        return flat

    def rebuild(self, arrays: list[np.ndarray]) -> Any:
        """The original structure with leaves taken from ``arrays`` (same layout)."""
        n = len(self._arrays)
        if len(arrays) != n + 2 * len(self._ragged):
            raise ValueError(f"expected {n + 2 * len(self._ragged)} arrays, got {len(arrays)}")
        ragged = [Ragged(arrays[i], arrays[i + 1]) for i in range(n, len(arrays), 2)]
        pools = {_ARRAY: arrays[:n], _RAGGED: ragged, _CONSTANT: self._constants}
        return self._fill(self._template, pools)

    def _fill(self, template: Any, pools: dict[int, list[Any]]) -> Any:
        if isinstance(template, _Leaf):
            return pools[template.kind][template.index]
        if isinstance(template, (list, tuple)):
            return type(template)(self._fill(v, pools) for v in template)
        if isinstance(template, dict):
            return {k: self._fill(v, pools) for k, v in template.items()}
        return template
