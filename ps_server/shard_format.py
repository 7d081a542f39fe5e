"""The on-disk format of one checkpoint file: a JSON header, then raw NumPy arrays.

Layout: ``MPSSHRD1`` magic, the header length (uint64 little-endian), the
header (JSON: caller metadata plus each array's dtype, shape and offset), then
every array's bytes, each starting on a 64-byte boundary. Arrays are written
straight from memory in large sequential writes and read back into one buffer
whose views become the arrays, so a file costs one pass over its bytes in each
direction. The CRC32 (zlib, which releases the GIL) of each chunk is computed
in a helper thread while the next chunk is written or read, so checksumming
hides behind the I/O. The manifest of a shard holds each file's size and
CRC32; ``read_arrays`` refuses a file that differs.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"MPSSHRD1"
_ALIGN = 64
_CHUNK = 16 << 20
_PREFIX = struct.Struct("<8sQ")


class CorruptFile(Exception):
    """A checkpoint file is truncated, altered, or not in this format; the message says which."""


@dataclass(frozen=True)
class FileDigest:
    """What the manifest records of one file: its size in bytes and CRC32."""

    bytes: int
    crc32: int

    def to_dict(self) -> dict:
        return {"bytes": self.bytes, "crc32": self.crc32}

    @classmethod
    def from_dict(cls, d: dict) -> FileDigest:
        return cls(int(d["bytes"]), int(d["crc32"]))


def _pad(n: int) -> int:
    return -n % _ALIGN


def write_arrays(path: Path, meta: dict, arrays: dict[str, np.ndarray]) -> FileDigest:
    """Writes ``arrays`` (any dtype and shape) and ``meta`` to ``path`` and fsyncs it."""
    entries, offset = [], 0
    contiguous = {}
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        contiguous[name] = array
        entries.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape),
                        "offset": offset})
        offset += array.nbytes + _pad(array.nbytes)
    header = json.dumps({"meta": meta, "arrays": entries}).encode()
    head = _PREFIX.pack(MAGIC, len(header)) + header
    head += b"\0" * _pad(len(head))
    total = 0
    with open(path, "wb") as f, _RunningCrc() as crc:
        for piece in [head] + [a for a in contiguous.values()]:
            view = memoryview(piece.reshape(-1).view(np.uint8)) if isinstance(piece, np.ndarray) \
                else piece
            for start in range(0, len(view), _CHUNK):
                chunk = view[start:start + _CHUNK]
                crc.add(chunk)
                f.write(chunk)
            total += len(view)
            pad = b"\0" * _pad(len(view)) if isinstance(piece, np.ndarray) else b""
            if pad:
                crc.add(pad)
                f.write(pad)
                total += len(pad)
        f.flush()
        os.fsync(f.fileno())
    return FileDigest(total, crc.value())


class _RunningCrc:
    """CRC32 of the chunks passed to ``add``, in order, computed in one helper thread so
    the caller's I/O on the next chunk overlaps it. A chunk must stay unchanged until
    ``value()`` returns."""

    def __init__(self):
        self._crc = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crc32")
        self._pending: list[Future] = []

    def _update(self, chunk) -> None:
        self._crc = zlib.crc32(chunk, self._crc)

    def add(self, chunk) -> None:
        if len(chunk) < (1 << 16):  # not worth a hand-off; keep the order
            self._drain()
            self._crc = zlib.crc32(chunk, self._crc)
            return
        self._pending.append(self._pool.submit(self._update, chunk))
        if len(self._pending) > 2:
            self._pending.pop(0).result()

    def _drain(self) -> None:
        while self._pending:
            self._pending.pop(0).result()

    def value(self) -> int:
        self._drain()
        return self._crc

    def __enter__(self) -> _RunningCrc:
        return self

    def __exit__(self, *exc_info) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def read_arrays(path: Path, digest: FileDigest) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) of a file written by ``write_arrays``, after checking its size and CRC32
    against ``digest``. Raises CorruptFile naming the file and what is wrong with it."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise CorruptFile(f"{path}: cannot read: {exc.strerror}") from None
    if size != digest.bytes:
        raise CorruptFile(f"{path}: {size} bytes, the manifest says {digest.bytes} (truncated?)")
    buf = np.empty(size, dtype=np.uint8)
    view = memoryview(buf)
    done = 0
    with open(path, "rb", buffering=0) as f, _RunningCrc() as running:
        if hasattr(os, "posix_fadvise"):  # the kernel reads ahead while we checksum
            os.posix_fadvise(f.fileno(), 0, size, os.POSIX_FADV_WILLNEED)
        while done < size:
            n = f.readinto(view[done:done + _CHUNK])
            if not n:
                raise CorruptFile(f"{path}: ended after {done} of {size} bytes")
            running.add(view[done:done + n])
            done += n
        crc = running.value()
    if crc != digest.crc32:
        raise CorruptFile(f"{path}: CRC32 {crc:#010x} differs from the manifest's "
                          f"{digest.crc32:#010x} (corrupted)")
    return _parse(path, buf)


def _parse(path: Path, buf: np.ndarray) -> tuple[dict, dict[str, np.ndarray]]:
    if buf.shape[0] < _PREFIX.size:
        raise CorruptFile(f"{path}: too short for a header")
    magic, header_len = _PREFIX.unpack_from(buf)
    if magic != MAGIC:
        raise CorruptFile(f"{path}: not a shard file (magic {magic!r})")
    start = _PREFIX.size + header_len
    try:
        header = json.loads(bytes(buf[_PREFIX.size:start]))
    except ValueError as exc:
        raise CorruptFile(f"{path}: unreadable header: {exc}") from None
    base = start + _pad(start)
    arrays = {}
    for e in header["arrays"]:
        dtype = np.dtype(e["dtype"])
        shape = tuple(e["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        begin = base + e["offset"]
        end = begin + count * dtype.itemsize
        if end > buf.shape[0]:
            raise CorruptFile(f"{path}: array {e['name']!r} runs past the end of the file")
        arrays[e["name"]] = buf[begin:end].view(dtype).reshape(shape)
    return header["meta"], arrays
