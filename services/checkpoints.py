"""The checkpoints of a model dir: state files, validation, retention, copying from elsewhere.

``<model_dir>/checkpoint`` (CheckpointState, protobuf text format) names the
committed checkpoints; its atomic rewrite by the controller is the commit
point of a save. ``<model_dir>/monolith_checkpoint`` (MonolithCheckpointState)
keeps exempt paths, save timestamps and per-checkpoint facts. A checkpoint
directory ``model.ckpt-<step>/`` holds ``shard-<i>-of-<n>/`` directories, each
complete once its ``MANIFEST.json`` exists, and the controller's ``meta.json``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format

from services.files import write_text_atomic
from services.pb import checkpoint_pb2 as pb

log = logging.getLogger(__name__)

PREFIX = "model.ckpt"
STATE_FILE = "checkpoint"
META_FILE = "monolith_checkpoint"
MANIFEST = "MANIFEST.json"
CKPT_META = "meta.json"
RESTORE_MARKER = "restore_ckpt"
_NAME = re.compile(rf"^{re.escape(PREFIX)}-(\d+)$")
_SHARD = re.compile(r"^shard-(\d+)-of-(\d+)$")
_READ_ATTEMPTS = 5


class CheckpointError(Exception):
    """A checkpoint cannot be used or written; the message says which and why."""


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}-{int(step)}"


def step_of(path: str | Path) -> int:
    """The global step in a checkpoint's name (``model.ckpt-120`` -> 120)."""
    m = _NAME.match(Path(path).name)
    if m is None:
        raise CheckpointError(f"{path}: not a checkpoint name (expected {PREFIX}-<step>)")
    return int(m.group(1))


def shard_dir(ckpt: Path, shard: int, num_shards: int) -> Path:
    return Path(ckpt) / f"shard-{shard}-of-{num_shards}"


def _read_text_proto(path: Path, message):
    """Parses a text-format file, retrying a few times (a reader can race a rename on
    network file systems); None if it does not exist."""
    for attempt in range(_READ_ATTEMPTS):
        try:
            return text_format.Parse(path.read_text(), message)
        except FileNotFoundError:
            return None
        except (OSError, text_format.ParseError) as exc:
            if attempt == _READ_ATTEMPTS - 1:
                raise CheckpointError(f"{path}: unreadable: {exc}") from None
            message.Clear()
            time.sleep(0.05 * (attempt + 1))
    return None


def read_state(model_dir: Path) -> pb.CheckpointState | None:
    """The committed-checkpoint state, or None when nothing was ever committed."""
    return _read_text_proto(Path(model_dir) / STATE_FILE, pb.CheckpointState())


def write_state(model_dir: Path, state: pb.CheckpointState) -> None:
    """The commit: temp file, fsync, rename over ``checkpoint``."""
    write_text_atomic(Path(model_dir) / STATE_FILE, text_format.MessageToString(state))


def read_meta(model_dir: Path) -> pb.MonolithCheckpointState:
    meta = _read_text_proto(Path(model_dir) / META_FILE, pb.MonolithCheckpointState())
    return meta if meta is not None else pb.MonolithCheckpointState()


def write_meta(model_dir: Path, meta: pb.MonolithCheckpointState) -> None:
    write_text_atomic(Path(model_dir) / META_FILE, text_format.MessageToString(meta))


def committed(model_dir: Path) -> list[Path]:
    """Absolute paths of committed checkpoints, oldest first."""
    state = read_state(model_dir)
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths)
    if state.model_checkpoint_path and state.model_checkpoint_path not in paths:
        paths.append(state.model_checkpoint_path)
    return [_absolute(model_dir, p) for p in paths]


def _absolute(model_dir: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else Path(model_dir) / p


def shard_count(ckpt: Path) -> int:
    """Number of PS shards that wrote ``ckpt`` (from its meta, else its shard dirs)."""
    meta = Path(ckpt) / CKPT_META
    if meta.exists():
        try:
            return int(json.loads(meta.read_text())["num_shards"])
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{meta}: unreadable: {exc}") from None
    counts = {int(m.group(2)) for d in _list(ckpt) if (m := _SHARD.match(d.name))}
    if len(counts) != 1:
        raise CheckpointError(f"{ckpt}: shard directories disagree on the shard count "
                              f"({sorted(counts) or 'none'})")
    return counts.pop()


def _list(directory: Path) -> list[Path]:
    try:
        return list(Path(directory).iterdir())
    except OSError:
        return []


def problems(ckpt: Path) -> list[str]:
    """Why ``ckpt`` cannot be restored (empty when every shard's manifest is present and
    every file it lists has the listed size). Checksums are verified when files are read."""
    ckpt = Path(ckpt)
    if not ckpt.is_dir():
        return [f"{ckpt} does not exist"]
    try:
        n = shard_count(ckpt)
    except CheckpointError as exc:
        return [str(exc)]
    found = []
    for i in range(n):
        manifest = shard_dir(ckpt, i, n) / MANIFEST
        try:
            files = json.loads(manifest.read_text())["files"]
        except FileNotFoundError:
            found.append(f"{manifest} is missing (shard {i} never finished its save)")
            continue
        except (OSError, ValueError, KeyError) as exc:
            found.append(f"{manifest}: unreadable: {exc}")
            continue
        for name, digest in files.items():
            path = manifest.parent / name
            size = path.stat().st_size if path.exists() else None
            if size != digest["bytes"]:
                found.append(f"{path}: {'missing' if size is None else f'{size} bytes'}, "
                             f"the manifest says {digest['bytes']}")
    return found


def latest_valid(model_dir: Path) -> Path | None:
    """The newest committed checkpoint that passes ``problems``; each one skipped is logged
    with its reasons. None when no committed checkpoint is usable."""
    for ckpt in reversed(committed(model_dir)):
        found = problems(ckpt)
        if not found:
            return ckpt
        log.warning("skipping checkpoint %s: %s", ckpt.name, "; ".join(found),
                    extra={"checkpoint": str(ckpt)})
    return None


@dataclass(frozen=True)
class Retention:
    """Which committed checkpoints to keep: the newest ``max_to_keep`` (0: all), plus every
    exempt one, plus one per ``keep_checkpoint_every_n_hours`` (0: none)."""

    max_to_keep: int = 5
    keep_checkpoint_every_n_hours: float = 0.0


def commit(model_dir: Path, ckpt: Path, info: pb.CheckpointInfo, retention: Retention,
           now: float | None = None) -> list[Path]:
    """Names ``ckpt`` in the state file (the commit), records it in the metadata, then
    deletes what ``retention`` no longer keeps. Returns the deleted checkpoint dirs."""
    model_dir = Path(model_dir)
    now = time.time() if now is None else now
    state = read_state(model_dir)
    if state is None:
        # the first commit starts the keep_checkpoint_every_n_hours clock (TF starts it when
        # the saver is made), so the run's first checkpoint is not kept forever by default
        state = pb.CheckpointState(last_preserved_timestamp=now)
    meta = read_meta(model_dir)
    name = _relative(model_dir, ckpt)
    exempt = set(meta.exempt_model_checkpoint_paths)
    entries = [(p, t) for p, t in _entries(state) if p != name]
    entries.append((name, now))
    deleted = set()
    if retention.max_to_keep > 0:
        regular = [(p, t) for p, t in entries if p not in exempt]
        hours = retention.keep_checkpoint_every_n_hours
        for p, t in regular[:max(0, len(regular) - retention.max_to_keep)]:
            if hours > 0 and t - state.last_preserved_timestamp >= hours * 3600:
                state.last_preserved_timestamp = t
                meta.exempt_model_checkpoint_paths.append(p)
            else:
                deleted.add(p)
        entries = [(p, t) for p, t in entries if p not in deleted]
    state.model_checkpoint_path = name
    del state.all_model_checkpoint_paths[:]
    del state.all_model_checkpoint_timestamps[:]
    state.all_model_checkpoint_paths.extend(p for p, _ in entries)
    state.all_model_checkpoint_timestamps.extend(t for _, t in entries)
    info.path = name
    info.timestamp = now
    kept = {p for p, _ in entries}
    infos = [i for i in meta.checkpoints if i.path in kept and i.path != name]
    del meta.checkpoints[:]
    meta.checkpoints.extend(infos + [info])
    meta.last_checkpoint_save_timestamp = int(now)
    meta.builtin_hash_table_type = meta.builtin_hash_table_type or "cuckoo_embedding_hash_table"
    write_state(model_dir, state)
    write_meta(model_dir, meta)
    removed = []
    for p in sorted(deleted):
        path = _absolute(model_dir, p)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _entries(state: pb.CheckpointState) -> list[tuple[str, float]]:
    times = list(state.all_model_checkpoint_timestamps)
    paths = list(state.all_model_checkpoint_paths)
    times += [0.0] * (len(paths) - len(times))
    return list(zip(paths, times))


def _relative(model_dir: Path, ckpt: Path) -> str:
    ckpt = Path(ckpt)
    try:
        return str(ckpt.relative_to(model_dir))
    except ValueError:
        return str(ckpt)


def remove_uncommitted(model_dir: Path, ckpt: Path) -> None:
    """Deletes a checkpoint dir the state file does not name (a save that did not commit)."""
    if Path(ckpt) not in committed(model_dir):
        shutil.rmtree(ckpt, ignore_errors=True)


def copy_tree(src: Path, dst: Path, attempts: int = 3) -> None:
    """Copies a directory with retries; files land under a temp name first, so a failed
    copy never leaves a half-copied ``dst``."""
    tmp = dst.with_name(f".{dst.name}.copying")
    for attempt in range(1, attempts + 1):
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            shutil.copytree(src, tmp)
            if dst.exists():  # another role copied it meanwhile
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, dst)
            return
        except OSError as exc:
            if attempt == attempts:
                raise CheckpointError(f"copying {src} to {dst} failed: {exc}") from None
            log.warning("copy of %s failed (attempt %d): %s", src, attempt, exc)
            time.sleep(0.2 * attempt)


def restore_from(model_dir: Path, restore_dir: Path, restore_ckpt: str | None = None) -> Path | None:
    """Starts ``model_dir`` from another model dir's checkpoint (the seed's runner_utils):
    copies the chosen checkpoint (``restore_ckpt``, a name like ``model.ckpt-30``, or the
    latest valid one), commits it here as exempt from retention, and writes the
    ``restore_ckpt`` marker so it happens once. Returns the copied checkpoint, or None
    when the marker says it was done already or ``model_dir`` has checkpoints of its own."""
    model_dir, restore_dir = Path(model_dir), Path(restore_dir)
    marker = model_dir / RESTORE_MARKER
    if marker.exists():
        return None
    if committed(model_dir):
        log.warning("model dir %s has checkpoints of its own; not restoring from %s",
                    model_dir, restore_dir)
        return None
    if restore_ckpt:
        src = restore_dir / Path(restore_ckpt).name
        if src not in committed(restore_dir):
            raise CheckpointError(f"{src} is not a committed checkpoint of {restore_dir}")
        found = problems(src)
        if found:
            raise CheckpointError(f"{src} cannot be restored: {'; '.join(found)}")
    else:
        src = latest_valid(restore_dir)
        if src is None:
            raise CheckpointError(f"{restore_dir} has no committed checkpoint to restore")
    model_dir.mkdir(parents=True, exist_ok=True)
    dst = model_dir / src.name
    copy_tree(src, dst)
    meta = read_meta(model_dir)
    name = src.name
    if name not in meta.exempt_model_checkpoint_paths:
        meta.exempt_model_checkpoint_paths.append(name)
    write_meta(model_dir, meta)
    info = pb.CheckpointInfo(step=step_of(src), num_shards=shard_count(dst))
    commit(model_dir, dst, info, Retention(max_to_keep=0))
    write_text_atomic(marker, f"{src}\n")
    return dst


def restore_once(model_dir: Path, restore_dir: Path, restore_ckpt: str | None = None) -> Path | None:
    """``restore_from`` under an exclusive lock on ``<model_dir>/.restore.lock``: every role
    started with a restore dir may call it, the first one copies, the others wait for it and
    then find the marker."""
    import fcntl

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    with open(model_dir / ".restore.lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            return restore_from(model_dir, restore_dir, restore_ckpt)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
