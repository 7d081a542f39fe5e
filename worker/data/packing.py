"""Pack named arrays into one flat buffer per dtype and back (Monolith's tensor_utils).

Keys are always taken in sorted order, so packer and unpacker agree without sending
names; sizes are element counts, shapes travel beside the buffer (``keyed_shapes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def pack_arrays(keyed: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Flatten and concatenate in sorted key order.

    Returns ``(packed (n,), sizes (k,) int64)``; all arrays must share one dtype.
    """
    keys = sorted(keyed)
    dtypes = {np.asarray(keyed[k]).dtype for k in keys}
    if len(dtypes) > 1:
        raise ValueError(f"pack_arrays needs one dtype, got {sorted(str(d) for d in dtypes)}; "
                         "use split_by_dtype first")
    parts = [np.ravel(keyed[k]) for k in keys]
    sizes = np.array([p.size for p in parts], dtype=np.int64)
    if not parts:
        return np.zeros(0, np.float32), sizes
    return np.concatenate(parts), sizes


def unpack_arrays(keyed_shapes: Mapping[str, Sequence[int]], packed: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """Inverse of ``pack_arrays``: views of ``packed`` reshaped, keyed in sorted order."""
    out = {}
    offset = 0
    for key in sorted(keyed_shapes):
        shape = tuple(keyed_shapes[key])
        size = int(np.prod(shape, dtype=np.int64))
        out[key] = packed[offset:offset + size].reshape(shape)
        offset += size
    if offset != packed.shape[0]:
        raise ValueError(f"packed has {packed.shape[0]} elements, shapes need {offset}")
    return out


def split_by_dtype(keyed: Mapping[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Group arrays by dtype, groups ordered by dtype name."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in keyed.items():
        groups.setdefault(str(np.asarray(value).dtype), {})[key] = value
    return [groups[name] for name in sorted(groups)]


def merge_dicts(dicts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One dict with the entries of all; a key present twice is an error."""
    out: dict[str, np.ndarray] = {}
    for d in dicts:
        for key, value in d.items():
            if key in out:
                raise ValueError(f"key {key!r} appears in more than one dict")
            out[key] = value
    return out


def pack_typed_keyed_arrays(typed: Sequence[Mapping[str, np.ndarray]]) -> list[np.ndarray]:
    """One packed buffer per dtype group, then all groups' sizes concatenated (int64)."""
    packed, sizes = [], []
    for group in typed:
        buf, group_sizes = pack_arrays(group)
        packed.append(buf)
        sizes.append(group_sizes)
    return packed + [np.concatenate(sizes) if sizes else np.zeros(0, np.int64)]


def unpack_typed_keyed_arrays(typed_shapes: Sequence[Mapping[str, Sequence[int]]],
                              packed: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Inverse of ``pack_typed_keyed_arrays`` (the trailing sizes buffer is checked)."""
    if len(packed) != len(typed_shapes) + 1:
        raise ValueError(f"expected {len(typed_shapes) + 1} buffers (groups + sizes), "
                         f"got {len(packed)}")
    expected = [int(np.prod(shape, dtype=np.int64)) for group in typed_shapes
                for _, shape in sorted(group.items())]
    if packed[-1].tolist() != expected:
        raise ValueError(f"sizes buffer {packed[-1].tolist()} does not match shapes {expected}")
    return [unpack_arrays(shapes, buf) for shapes, buf in zip(typed_shapes, packed[:-1])]
