"""EmbeddingTable kernel speed, as ratios against baselines measured in the same run.

(a) lookup + gather of 65,536 existing ids x dim 16 fp32 vs ``np.take`` of
    the same rows from a dense array (target >= 0.5x);
(b) insert of new ids through ``apply_gradients`` (SGD, zeros init, growth
    included) in ids/s (target >= 10M/s), with the raw hash insert of the
    index beside it;
(c) ``apply_gradients`` Adagrad on 65,536 existing ids, against (a).
Best of N repeats after a numba warm-up.

    python benchmarks/table_kernels.py [--rows 1000000] [--batch 65536] [--repeat 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ps_server import table_kernels as tk
from ps_server.config import (
    InitializerConfig,
    InitializerKind,
    OptimizerConfig,
    OptimizerKind,
    TableConfig,
)
from ps_server.table import EmbeddingTable


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _best_pair(fn_a, fn_b, repeat: int) -> tuple[float, float]:
    """Best times of two functions timed alternately, so both see the same machine."""
    a, b = [], []
    for _ in range(repeat):
        a.append(_best(fn_a, 1))
        b.append(_best(fn_b, 1))
    return min(a), min(b)


def _table(kind: OptimizerKind, dim: int, init: InitializerKind) -> EmbeddingTable:
    cfg = TableConfig("bench", dim, OptimizerConfig(kind), InitializerConfig(init))
    return EmbeddingTable(cfg)


def _fill(table: EmbeddingTable, ids: np.ndarray, batch: int) -> None:
    grads = np.zeros((batch, table.dim), dtype=np.float32)
    for lo in range(0, ids.shape[0], batch):
        part = ids[lo:lo + batch]
        table.apply_gradients(part, grads[: part.shape[0]], timestamp_s=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=65_536)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    dim, batch = args.dim, args.batch

    warm = _table(OptimizerKind.ADAGRAD, dim, InitializerKind.RANDOM_UNIFORM)
    _fill(warm, np.arange(5000, dtype=np.int64), 1000)
    warm.lookup(np.arange(100, dtype=np.int64))
    _fill(_table(OptimizerKind.SGD, dim, InitializerKind.ZEROS), np.arange(10, dtype=np.int64), 10)

    # (a) lookup + gather vs np.take
    table = _table(OptimizerKind.ADAGRAD, dim, InitializerKind.RANDOM_UNIFORM)
    all_ids = rng.integers(-2**63, 2**63 - 1, args.rows, dtype=np.int64)
    _fill(table, all_ids, batch)
    rows = table.export()
    dense = np.ascontiguousarray(rows.embeddings)
    pick = rng.integers(0, rows.ids.shape[0], batch)
    ids = rows.ids[pick]
    out_table = np.empty((batch, dim), dtype=np.float32)
    out_take = np.empty((batch, dim), dtype=np.float32)
    t_take, t_lookup = _best_pair(lambda: np.take(dense, pick, axis=0, out=out_take),
                                  lambda: table.lookup(ids, out=out_table), args.repeat)
    assert np.array_equal(out_table, out_take)

    # (b) insert of new ids
    inserts = []
    n_new = args.rows
    for _ in range(max(2, args.repeat // 2)):
        fresh = _table(OptimizerKind.SGD, dim, InitializerKind.ZEROS)
        new_ids = rng.integers(-2**63, 2**63 - 1, n_new, dtype=np.int64)
        inserts.append(_best(lambda t=fresh, i=new_ids: _fill(t, i, batch), 1))
    t_insert = min(inserts)
    cap = tk.capacity_for(n_new)
    raw_ids = rng.integers(-2**63, 2**63 - 1, n_new, dtype=np.int64)
    emb = np.zeros((n_new, 1), np.float32)
    slots = np.zeros((n_new, 0), np.float32)
    lu = np.zeros(n_new, np.int64)
    flags = np.zeros(n_new, np.uint8)

    def raw_insert():
        keys, slot_rows = tk.empty_index(cap)
        tk.load_rows(keys, slot_rows, tk.shift_for(cap), 0, raw_ids, emb, slots, lu,
                     emb.copy(), slots.copy(), lu.copy(), flags)

    t_raw = _best(raw_insert, args.repeat)

    # (c) apply_gradients Adagrad on existing ids
    grads = rng.normal(0, 0.01, (batch, dim)).astype(np.float32)
    t_push = _best(lambda: table.apply_gradients(ids, grads, timestamp_s=2), args.repeat)

    print(f"table: {table.size} rows x dim {dim}, batch {batch}, best of {args.repeat}")
    print(f"(a) lookup+gather {t_lookup * 1e3:.2f} ms vs np.take {t_take * 1e3:.2f} ms: "
          f"{t_take / t_lookup:.2f}x of np.take (target >= 0.5x)")
    rate = n_new / t_insert
    print(f"(b) insert new ids via apply_gradients: {rate / 1e6:.1f} M ids/s "
          f"= {rate / 1e7:.2f}x of the 10M/s target; raw index insert "
          f"{n_new / t_raw / 1e6:.1f} M ids/s ({t_raw / t_insert:.2f}x of it)")
    print(f"(c) apply_gradients adagrad {t_push * 1e3:.2f} ms = {batch / t_push / 1e6:.1f} M ids/s,"
          f" {t_lookup / t_push:.2f}x of lookup speed")


if __name__ == "__main__":
    main()
