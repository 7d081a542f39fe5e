"""Serving snapshots: every table's rows and the dense weights, written from the PS and read back.

Layout of an export directory: ``tables/<table>.npz`` (ids (k,) int64 sorted,
embeddings (k, dim)), ``dense.npz`` (one array per dense variable) and
``config.json`` (the training config). ``ExportStore`` serves it with the same
verbs the training loop uses, so prediction from an export runs the same code
as evaluation in the cluster.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from worker.config import TrainConfig


def _write_npz(path: Path, **arrays) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def export_snapshot(client, config: TrainConfig, param_names, out_dir: Path) -> dict:
    """Writes the snapshot from a live cluster; returns {table: rows exported}."""
    out_dir = Path(out_dir)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in config.table_names():
        ids, rows = client.export_rows(name)
        order = np.argsort(ids, kind="stable")
        _write_npz(out_dir / "tables" / f"{name}.npz", ids=ids[order], embeddings=rows[order])
        counts[name] = int(ids.shape[0])
    dense = client.pull_dense({n: None for n in param_names})
    _write_npz(out_dir / "dense.npz", **{_key(n): v for n, v in dense.items()})
    (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    return counts


def _key(name: str) -> str:
    return name.replace("/", "__")


class ExportStore:
    """Read-only store over an export directory: ids without a row pull zeros."""

    def __init__(self, export_dir: Path):
        export_dir = Path(export_dir)
        self.config = TrainConfig.load(export_dir / "config.json")
        self.tables = {}
        for path in sorted((export_dir / "tables").glob("*.npz")):
            with np.load(path) as data:
                self.tables[path.stem] = (data["ids"], data["embeddings"])
        with np.load(export_dir / "dense.npz") as data:
            self.dense = {k.replace("__", "/"): data[k] for k in data.files}

    def pull(self, ids: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for name, wanted in ids.items():
            keys, rows = self.tables[name]
            wanted = np.asarray(wanted, np.int64)
            pos = np.searchsorted(keys, wanted)
            pos = np.minimum(pos, max(keys.shape[0] - 1, 0))
            found = (keys.shape[0] > 0) & (keys[pos] == wanted) if keys.shape[0] else \
                np.zeros(wanted.shape[0], bool)
            result = np.zeros((wanted.shape[0], rows.shape[1]), rows.dtype)
            result[found] = rows[pos[found]]
            out[name] = result
        return out

    def pull_dense(self, variables: Mapping[str, object]) -> dict[str, np.ndarray]:
        missing = [n for n in variables if n not in self.dense]
        if missing:
            raise KeyError(f"export has no dense variables {missing}")
        return {n: self.dense[n] for n in variables}
