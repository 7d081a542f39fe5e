"""Checkpoint save and restore speed of one PS shard, as ratios against this disk.

Builds one shard in process (an Adagrad table of ``--rows`` rows x ``--dim``
plus a few dense variables) and, in each of ``--repeat`` rounds:

- raw write: the same number of bytes in one large sequential write + fsync;
- save: ``ShardSaver.save`` (export, write, CRC32, fsync, manifest), GB/s;
- raw read: that file read back into a fresh buffer, page cache dropped first;
- restore: ``restore_shard`` into empty tables (read, CRC32 check, table load),
  page cache of every checkpoint file dropped first.

The page cache is dropped per file with ``posix_fadvise(POSIX_FADV_DONTNEED)``
after fsync, so reads come from the device. Reported: median GB/s of each and
the median of the per-round ratios save/raw write and restore/raw read
(target >= 0.5x for both).

    python benchmarks/checkpoint_io.py [--rows 4000000] [--dim 32] [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ps_server.checkpoint import ShardSaver, restore_shard
from ps_server.config import OptimizerConfig, TableConfig
from ps_server.dense import DenseStore
from ps_server.table import EmbeddingTable

_MAX_WRITE = 1 << 30


def _table_config(dim: int) -> TableConfig:
    return TableConfig.from_dict({
        "name": "bench", "dim": dim,
        "optimizer": {"type": "adagrad", "learning_rate": 0.01, "initial_accumulator": 0.1},
        "initializer": {"type": "zeros"}})


def build_shard(rows: int, dim: int, seed: int = 0):
    """An Adagrad table with ``rows`` distinct random ids and four 1M-value dense variables."""
    config = _table_config(dim)
    table = EmbeddingTable(config)
    rng = np.random.default_rng(seed)
    ids = np.unique(rng.integers(-2**62, 2**62, size=rows + rows // 100 + 16, dtype=np.int64))
    ids = rng.permutation(ids)[:rows]
    step = 1 << 20
    for start in range(0, rows, step):
        part = ids[start:start + step]
        n = part.shape[0]
        table.load(part, rng.standard_normal((n, dim), dtype=np.float32),
                   rng.random((n, table.slot_width), dtype=np.float32),
                   np.full(n, 1_700_000_000, dtype=np.int64))
    dense = DenseStore(OptimizerConfig.from_dict({"type": "adam", "learning_rate": 0.001}))
    for i in range(4):
        dense.pull(f"dense_{i}", rng.standard_normal((1024, 1024), dtype=np.float32))
    return config, {config.name: table}, dense


def drop_cache(path: Path) -> None:
    """fsync, then ask the kernel to forget the file's cached pages."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def raw_write(path: Path, data: np.ndarray) -> float:
    """Seconds to write ``data`` sequentially (as few writes as the OS allows) and fsync."""
    view = memoryview(data.reshape(-1).view(np.uint8))
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        done = 0
        while done < len(view):
            done += os.write(fd, view[done:done + _MAX_WRITE])
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - start


def raw_read(path: Path) -> float:
    """Seconds to read ``path`` into a freshly allocated buffer."""
    start = time.perf_counter()
    size = os.path.getsize(path)
    buf = np.empty(size, dtype=np.uint8)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        done = 0
        while done < size:
            n = f.readinto(view[done:done + _MAX_WRITE])
            if not n:
                raise OSError(f"{path}: short read")
            done += n
    return time.perf_counter() - start


def run(rows: int, dim: int, repeat: int, workdir: Path) -> dict:
    config, tables, dense = build_shard(rows, dim)
    filler = np.random.default_rng(1).integers(0, 255, size=1 << 24, dtype=np.uint8)
    rounds = []
    for r in range(repeat):
        ckpt = workdir / f"model.ckpt-{r}"
        save_start = time.perf_counter()
        result = ShardSaver(tables, dense, 0, 1).save(ckpt, r)
        save_s = time.perf_counter() - save_start
        nbytes = result.bytes
        raw_path = workdir / "raw.bin"
        data = np.resize(filler, nbytes)
        write_s = raw_write(raw_path, data)
        del data
        drop_cache(raw_path)
        read_s = raw_read(raw_path)
        raw_path.unlink()
        files = [p for p in ckpt.rglob("*") if p.is_file()]
        for p in files:
            drop_cache(p)
        fresh = {config.name: EmbeddingTable(config)}
        fresh_dense = DenseStore(dense.optimizer)
        restore_start = time.perf_counter()
        restore_shard(ckpt, fresh, fresh_dense, 0, 1)
        restore_s = time.perf_counter() - restore_start
        if fresh[config.name].size != rows:
            raise SystemExit(f"restore gave {fresh[config.name].size} rows, expected {rows}")
        del fresh, fresh_dense
        shutil.rmtree(ckpt)
        gb = nbytes / 1e9
        rounds.append({"bytes": nbytes, "raw_write_gbps": gb / write_s, "save_gbps": gb / save_s,
                       "raw_read_gbps": gb / read_s, "restore_gbps": gb / restore_s,
                       "save_ratio": write_s / save_s, "restore_ratio": read_s / restore_s})
    summary = {k: statistics.median(r[k] for r in rounds) for k in rounds[0] if k != "bytes"}
    return {"rows": rows, "dim": dim, "repeat": repeat, "bytes": rounds[0]["bytes"],
            "median": summary, "rounds": rounds,
            "target": {"save_ratio": 0.5, "restore_ratio": 0.5}}


def _print(report: dict) -> None:
    m = report["median"]
    print(f"checkpoint I/O: {report['rows']:,} rows x dim {report['dim']} adagrad, "
          f"{report['bytes'] / 1e9:.2f} GB per save, median of {report['repeat']} rounds")
    print(f"{'':10}{'GB/s':>8}{'baseline GB/s':>15}{'ratio':>8}{'target':>8}")
    print(f"{'save':10}{m['save_gbps']:8.2f}{m['raw_write_gbps']:15.2f}"
          f"{m['save_ratio']:8.2f}{'>= 0.5':>8}")
    print(f"{'restore':10}{m['restore_gbps']:8.2f}{m['raw_read_gbps']:15.2f}"
          f"{m['restore_ratio']:8.2f}{'>= 0.5':>8}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=4_000_000)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--dir", type=Path, default=None,
                   help="where to write (default: a temp dir under $TMPDIR)")
    p.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = p.parse_args(argv)
    if args.rows < 1 or args.dim < 1 or args.repeat < 1:
        p.error("--rows, --dim and --repeat must be >= 1")
    workdir = Path(tempfile.mkdtemp(prefix="ckpt-io-", dir=args.dir))
    try:
        report = run(args.rows, args.dim, args.repeat, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
