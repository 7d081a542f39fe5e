"""File discovery, the local default: ``<base_dir>/<name>/<index>`` holds one addr.

Every process on one machine (or sharing one filesystem) sees the same directory,
so no service has to run. Writes are atomic, so a reader never sees half an addr.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from discovery.base import ServiceDiscovery, check_entry
from services.files import write_text_atomic


@dataclass(frozen=True)
class FileConfig:
    """``base_dir``: the directory shared by every process of one job."""

    base_dir: str

    def __post_init__(self):
        if not isinstance(self.base_dir, (str, os.PathLike)) or not str(self.base_dir):
            raise ValueError(f"base_dir must be a non-empty path, got {self.base_dir!r}")


class FileServiceDiscovery(ServiceDiscovery):
    """Reads and writes one small file per registered replica."""

    def __init__(self, config: FileConfig):
        self._base = Path(config.base_dir)

    def _path(self, name: str, index: int) -> Path:
        return self._base / name / str(index)

    def register(self, name: str, index: int, addr: str) -> None:
        check_entry(name, index, addr)
        write_text_atomic(self._path(name, index), addr)

    def deregister(self, name: str, index: int, addr: str) -> None:
        check_entry(name, index, addr)
        path = self._path(name, index)
        if _read(path) == addr:
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def query(self, name: str) -> dict[int, str]:
        check_entry(name, 0)
        try:
            entries = list(os.scandir(self._base / name))
        except FileNotFoundError:
            return {}
        found = {}
        for entry in entries:
            if not entry.name.isdigit() or not entry.is_file():
                continue
            addr = _read(Path(entry.path))
            if addr:
                found[int(entry.name)] = addr
        return dict(sorted(found.items()))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
