"""The model directory of a local run: exclusive use, stale files cleared, config files written."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
from pathlib import Path

from services.files import write_text_atomic
from services.launcher.config import LocalClusterConfig

_STALE_DIRS = ("ps", "worker", "controller", "progress")
_STALE_FILES = ("result.json", "training.png", "cluster.json", "controller_addr", "restore.done")


class UsageError(Exception):
    """Bad input from the command line or its files; the message is the line to print."""


class ClusterError(Exception):
    """The run cannot go on; the message is the line to print."""


def lock_model_dir(model_dir: Path) -> int:
    """Takes an exclusive lock on ``<model_dir>/.ps-cluster.lock``; returns its fd.

    The kernel drops the lock when the launcher exits however it exits, so a
    crashed run never blocks the next one, while two live runs cannot share a dir.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(model_dir / ".ps-cluster.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ClusterError(f"model dir {model_dir} is in use by another ps-cluster run") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def clear_stale(model_dir: Path) -> None:
    """Removes discovery entries, progress lines and results a previous run left behind.

    A stale ``ps/<i>`` would send workers to a dead address; stale progress
    lines would show up in this run's bar and plot.
    """
    for name in _STALE_DIRS:
        directory = model_dir / name
        if directory.is_dir():
            for entry in directory.iterdir():
                if entry.is_file() or entry.is_symlink():
                    entry.unlink(missing_ok=True)
    for name in _STALE_FILES:
        (model_dir / name).unlink(missing_ok=True)


def reference_config_path() -> Path | None:
    """``worker/examples/reference.json`` if the worker package ships it."""
    spec = importlib.util.find_spec("worker")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "examples" / "reference.json"
        if path.is_file():
            return path
    return None


def write_train_config(config: LocalClusterConfig) -> None:
    """``config.json``: a copy of ``--config``, else of the reference config, else ``{}``."""
    source = config.config_path or reference_config_path()
    text = "{}\n" if source is None else _read_json_object(source)
    write_text_atomic(config.train_config_file, text)


def write_tables(config: LocalClusterConfig) -> None:
    """``tables.json``: a copy of ``--tables``, else derived from ``config.json``."""
    if config.tables_path is not None:
        write_text_atomic(config.tables_file, _read_json_object(config.tables_path))
        return
    try:
        from worker.config import TrainConfig
    except ImportError as exc:
        raise ClusterError(f"cannot derive the PS tables from the training config ({exc}); "
                           f"pass --tables FILE") from None
    try:
        tables = TrainConfig.load(config.train_config_file).tables_json()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"invalid training config {config.config_path or 'reference'}: "
                         f"{exc}") from None
    write_text_atomic(config.tables_file, tables if isinstance(tables, str)
                      else json.dumps(tables, indent=2))


def _read_json_object(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
        body = json.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise UsageError(f"{path} must hold a JSON object, got {type(body).__name__}")
    return text
