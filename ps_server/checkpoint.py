"""Saving this PS's shard into a checkpoint, and restoring it (re-sharded when N != M).

A save writes ``table-<k>.bin`` per table (ids, embeddings, optimizer slots,
last-update times), ``dense.bin`` (every dense variable with its slots and
update count) and, last, ``MANIFEST.json`` with each file's size and CRC32.
A restore onto shard j of M reads, from every saved shard, the rows whose id
the client's shard function sends to j and the dense variables whose name it
places on j; when M equals the saved count only shard j's own files are read.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ps_server.dense import DenseStore
from ps_server.shard_format import CorruptFile, FileDigest, read_arrays, write_arrays
from ps_server.table import EmbeddingTable
from services import checkpoints
from services.checkpoints import CheckpointError
from services.errors import FailedPrecondition, InvalidArgument
from services.files import write_text_atomic
from services.keys import shard_of, shard_of_name

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DENSE_FILE = "dense.bin"


class IncompatibleCheckpoint(CheckpointError):
    """The checkpoint's tables do not fit this PS's table configs (dim or optimizer slots)."""


@dataclass
class SaveResult:
    rows: dict[str, int] = field(default_factory=dict)
    dense_variables: int = 0
    bytes: int = 0
    seconds: float = 0.0


class ShardSaver:
    """Writes one PS's shard; one save at a time (a second concurrent one is refused)."""

    def __init__(self, tables: dict[str, EmbeddingTable], dense: DenseStore, shard: int,
                 num_shards: int):
        self.tables = tables
        self.dense = dense
        self.shard = shard
        self.num_shards = num_shards
        self._busy = threading.Lock()

    def save(self, ckpt: Path, step: int) -> SaveResult:
        ckpt = Path(ckpt)
        if not ckpt.is_absolute():
            raise InvalidArgument(f"checkpoint path {str(ckpt)!r} must be absolute")
        if step < 0:
            raise InvalidArgument(f"step must be >= 0, got {step}")
        if not self._busy.acquire(blocking=False):
            raise FailedPrecondition(f"shard {self.shard} is already saving a checkpoint")
        try:
            return self._save(ckpt, step)
        finally:
            self._busy.release()

    def _save(self, ckpt: Path, step: int) -> SaveResult:
        start = time.perf_counter()
        out = checkpoints.shard_dir(ckpt, self.shard, self.num_shards)
        out.mkdir(parents=True, exist_ok=True)
        (out / checkpoints.MANIFEST).unlink(missing_ok=True)
        result = SaveResult()
        files: dict[str, dict] = {}
        tables = []
        for k, (name, table) in enumerate(sorted(self.tables.items())):
            rows = table.export()
            file_name = f"table-{k}.bin"
            meta = {"table": name, "dim": table.dim, "slot_width": table.slot_width,
                    "optimizer": table.config.optimizer.to_dict(), "max_seen_s": table.max_seen_s}
            digest = write_arrays(out / file_name, meta, {
                "ids": rows.ids, "embeddings": rows.embeddings, "slots": rows.slots,
                "last_update_s": rows.last_update_s})
            files[file_name] = digest.to_dict()
            tables.append({"name": name, "file": file_name, "rows": int(rows.ids.shape[0])})
            result.rows[name] = int(rows.ids.shape[0])
            result.bytes += digest.bytes
        arrays, variables = {}, []
        for i, (name, updates, state) in enumerate(self.dense.snapshot()):
            keys = []
            for key, value in state.items():
                arrays[f"{i}/{key}"] = value
                keys.append(key)
            variables.append({"name": name, "updates": updates, "arrays": keys})
        digest = write_arrays(out / DENSE_FILE, {"variables": variables,
                                                 "optimizer": self.dense.optimizer.to_dict()},
                              arrays)
        files[DENSE_FILE] = digest.to_dict()
        result.bytes += digest.bytes
        result.dense_variables = len(variables)
        manifest = json.dumps({
            "format": FORMAT_VERSION, "shard": self.shard, "num_shards": self.num_shards,
            "step": step, "time": time.time(), "files": files, "tables": tables,
            "dense": [v["name"] for v in variables]}, indent=1)
        write_text_atomic(out / checkpoints.MANIFEST, manifest)
        result.bytes += len(manifest)
        result.seconds = time.perf_counter() - start
        log.info("saved shard", extra={"checkpoint": str(ckpt), "step": step, "bytes": result.bytes,
                                       "seconds": round(result.seconds, 3), "rows": result.rows})
        return result


def _manifest(directory: Path) -> dict:
    path = directory / checkpoints.MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable: {exc}") from None


def _read(directory: Path, manifest: dict, file_name: str):
    try:
        return read_arrays(directory / file_name, FileDigest.from_dict(manifest["files"][file_name]))
    except CorruptFile as exc:
        raise CheckpointError(str(exc)) from None


def restore_shard(ckpt: Path, tables: dict[str, EmbeddingTable], dense: DenseStore, shard: int,
                  num_shards: int) -> dict[str, int]:
    """Loads this shard's rows and dense variables from ``ckpt`` into empty ``tables`` and
    ``dense``. Every file read is checked against its manifest first; any problem raises
    CheckpointError before anything is loaded. Returns rows loaded per table."""
    ckpt = Path(ckpt)
    saved = checkpoints.shard_count(ckpt)
    sources = [shard] if saved == num_shards else list(range(saved))
    loads: dict[str, list] = {name: [] for name in tables}
    dense_loads = []
    for i in sources:
        directory = checkpoints.shard_dir(ckpt, i, saved)
        manifest = _manifest(directory)
        for entry in manifest["tables"]:
            table = tables.get(entry["name"])
            if table is None:
                log.warning("checkpoint table %r is not configured here; skipped", entry["name"])
                continue
            meta, arrays = _read(directory, manifest, entry["file"])
            if meta["dim"] != table.dim or meta["slot_width"] != table.slot_width:
                raise IncompatibleCheckpoint(
                    f"{directory / entry['file']}: table {entry['name']!r} was saved with dim "
                    f"{meta['dim']} and {meta['slot_width']} slot values per row; this PS has dim "
                    f"{table.dim} and {table.slot_width} (optimizer {table.config.optimizer.kind.value})")
            if saved != num_shards:
                mine = shard_of(arrays["ids"], num_shards) == shard
                arrays = {k: np.ascontiguousarray(v[mine]) for k, v in arrays.items()}
            loads[entry["name"]].append(arrays)
        if DENSE_FILE in manifest["files"]:
            meta, arrays = _read(directory, manifest, DENSE_FILE)
            for i_var, var in enumerate(meta["variables"]):
                if shard_of_name(var["name"], num_shards) != shard:
                    continue
                dense_loads.append((var["name"], var["updates"],
                                    {k: arrays[f"{i_var}/{k}"] for k in var["arrays"]}))
    counts = {}
    for name, parts in loads.items():
        table = tables[name]
        for arrays in parts:
            table.load(arrays["ids"], arrays["embeddings"], arrays["slots"], arrays["last_update_s"],
                       known_distinct=True)
        counts[name] = table.size
    for name, updates, arrays in dense_loads:
        dense.load(name, updates, arrays)
    return counts


def restore_latest(model_dir: Path, tables: dict[str, EmbeddingTable], dense: DenseStore,
                   shard: int, num_shards: int) -> Path | None:
    """Restores the newest committed checkpoint that is whole; a torn or corrupted one is
    skipped (the log says why) in favour of the one before. None when none exists."""
    for ckpt in reversed(checkpoints.committed(model_dir)):
        found = checkpoints.problems(ckpt)
        if found:
            log.warning("not restoring %s: %s", ckpt.name, "; ".join(found))
            continue
        try:
            counts = restore_shard(ckpt, tables, dense, shard, num_shards)
        except IncompatibleCheckpoint:
            raise
        except CheckpointError as exc:
            log.warning("not restoring %s: %s", ckpt.name, exc)
            continue
        log.info("restored", extra={"checkpoint": str(ckpt), "rows": counts,
                                    "dense": dense.names(), "shard": shard,
                                    "num_shards": num_shards})
        return ckpt
    return None
