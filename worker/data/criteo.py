"""Reader for Criteo-format TSV click logs: users' own data as Batches.

Each line is ``label \\t I1..I13 \\t C1..C26`` (integer label, 13 integer features, 26
categorical tokens, usually hex); any feature may be empty (missing). Categorical
field ``j`` becomes slot ``j`` (key ``feature_<j>``): a one-id row holding the fid of
a 64-bit hash of the token's bytes, or an empty row when missing. Integer features
become dense ``log1p(max(x, 0))`` float32, 0 when missing. Parsing is one numba pass
over raw bytes. Worker ``i`` of ``n`` reads the lines that start in byte range ``i``
of ``n`` of each file: disjoint, deterministic, no coordination.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from worker.data.batch import Batch, rebatch
from worker.data.ffm import slot_to_key
from worker.data.ids import make_fids, mix64, salt
from worker.data.ragged import Ragged

NUM_INT_FEATURES = 13
NUM_CAT_FEATURES = 26
_TAB, _NEWLINE, _CR, _MINUS = 9, 10, 13, 45
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_PURPOSE_CRITEO = 4

_ERR_FIELDS, _ERR_INT, _ERR_LABEL = 1, 2, 3


@dataclass(frozen=True)
class CriteoConfig:
    """``chunk_bytes``: bytes read per parse (a whole line more at most);
    ``hash_seed``: salts the token hash, so different seeds give different fids."""

    chunk_bytes: int = 16 << 20
    hash_seed: int = 0

    def __post_init__(self) -> None:
        if self.chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be >= 1, got {self.chunk_bytes}")
        if self.hash_seed < 0:
            raise ValueError(f"hash_seed must be >= 0, got {self.hash_seed}")


@numba.njit(nogil=True, cache=True)
def _parse_kernel(buf, labels, ints, int_present, cat_hash, cat_present):
    """Fills the outputs row by row; returns (rows, error_code, error_line)."""
    n = buf.shape[0]
    n_int = ints.shape[1]
    n_fields = 1 + n_int + cat_hash.shape[1]
    row = 0
    line = 0
    i = 0
    while i < n:
        if buf[i] == _NEWLINE:
            i += 1
            line += 1
            continue
        f = 0
        while True:
            j = i
            while j < n and buf[j] != _TAB and buf[j] != _NEWLINE:
                j += 1
            end = j
            if end > i and buf[end - 1] == _CR and (j == n or buf[j] == _NEWLINE):
                end -= 1
            if f >= n_fields:
                return row, _ERR_FIELDS, line
            if f <= n_int:
                neg = end > i and buf[i] == _MINUS
                k = i + 1 if neg else i
                if k == end and (f == 0 or neg):
                    return row, _ERR_LABEL if f == 0 else _ERR_INT, line
                value = 0
                while k < end:
                    c = buf[k]
                    if c < 48 or c > 57:
                        return row, _ERR_LABEL if f == 0 else _ERR_INT, line
                    value = value * 10 + (c - 48)
                    k += 1
                if neg:
                    value = -value
                if f == 0:
                    labels[row] = value
                elif end > i:
                    ints[row, f - 1] = value
                    int_present[row, f - 1] = True
            elif end > i:
                h = _FNV_OFFSET
                for k in range(i, end):
                    h = (h ^ np.uint64(buf[k])) * _FNV_PRIME
                cat_hash[row, f - 1 - n_int] = h
                cat_present[row, f - 1 - n_int] = True
            f += 1
            if j >= n or buf[j] == _NEWLINE:
                i = j + 1
                break
            i = j + 1
        if f != n_fields:
            return row, _ERR_FIELDS, line
        row += 1
        line += 1
    return row, 0, line


def parse_criteo(data: bytes, hash_seed: int = 0, source: str = "<bytes>",
                 first_line: int = 1) -> Batch:
    """Whole lines of Criteo TSV -> Batch (26 slots, (b, 13) float32 dense, no timestamps)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    cap = int(np.count_nonzero(buf == _NEWLINE)) + 1
    labels = np.zeros(cap, np.int64)
    ints = np.zeros((cap, NUM_INT_FEATURES), np.int64)
    int_present = np.zeros((cap, NUM_INT_FEATURES), np.bool_)
    cat_hash = np.zeros((cap, NUM_CAT_FEATURES), np.uint64)
    cat_present = np.zeros((cap, NUM_CAT_FEATURES), np.bool_)
    rows, err, line = _parse_kernel(buf, labels, ints, int_present, cat_hash, cat_present)
    if err:
        what = {_ERR_FIELDS: f"expected {1 + NUM_INT_FEATURES + NUM_CAT_FEATURES} "
                             "tab-separated fields",
                _ERR_INT: "integer features must be empty or a decimal integer",
                _ERR_LABEL: "the label must be a decimal integer"}[err]
        raise ValueError(f"{source}: line {first_line + line}: {what}")
    dense = np.log1p(np.maximum(ints[:rows], 0).astype(np.float32))
    dense[~int_present[:rows]] = 0.0
    sparse = {}
    for j in range(NUM_CAT_FEATURES):
        present = cat_present[:rows, j]
        hashed = mix64(cat_hash[:rows, j][present] ^ salt(hash_seed, _PURPOSE_CRITEO, j))
        sparse[slot_to_key(j)] = Ragged.from_lengths(make_fids(j, hashed),
                                                     present.astype(np.int64))
    return Batch(sparse, dense, labels[:rows].astype(np.float32))


def _line_chunks(path: Path, start: int, end: int, chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Whole lines starting in byte range [start, end), as (chunk, 0-based line offset of
    the chunk within this range)."""
    with open(path, "rb") as f:
        if start > 0:
            f.seek(start - 1)
            f.readline()
        line_start = f.tell()
        pending = b""
        lines_done = 0
        while line_start < end:
            data = f.read(chunk_bytes)
            if not data:
                if pending:
                    yield pending, lines_done
                return
            buf = pending + data
            in_range = end - line_start
            if len(buf) >= in_range:
                nl = buf.find(b"\n", in_range - 1)
                if nl >= 0:
                    yield buf[:nl + 1], lines_done
                    return
                pending = buf
                continue
            nl = buf.rfind(b"\n")
            if nl < 0:
                pending = buf
                continue
            yield buf[:nl + 1], lines_done
            lines_done += buf.count(b"\n", 0, nl + 1)
            pending = buf[nl + 1:]
            line_start += nl + 1


class CriteoReader:
    """This worker's share of one or more Criteo TSV files, as Batches in file order."""

    def __init__(self, paths: str | os.PathLike | Sequence[str | os.PathLike],
                 config: CriteoConfig = CriteoConfig(), worker_index: int = 0,
                 num_workers: int = 1):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        if not 0 <= worker_index < num_workers:
            raise ValueError(f"worker_index must be in [0, {num_workers}), got {worker_index}")
        self.paths = [Path(p) for p in paths]
        self.config = config
        self.worker_index = worker_index
        self.num_workers = num_workers

    def blocks(self) -> Iterator[Batch]:
        """One Batch per chunk of whole lines."""
        for path in self.paths:
            size = path.stat().st_size
            start = size * self.worker_index // self.num_workers
            end = size * (self.worker_index + 1) // self.num_workers
            for chunk, line in _line_chunks(path, start, end, self.config.chunk_bytes):
                source = f"{path} (byte range {start}..{end})"
                yield parse_criteo(chunk, self.config.hash_seed, source, line + 1)

    def batches(self, batch_size: int, drop_remainder: bool = False) -> Iterator[Batch]:
        return rebatch(self.blocks(), batch_size, drop_remainder)
