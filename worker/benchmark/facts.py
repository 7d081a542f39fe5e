"""Facts about the machine and software a benchmark ran on, for its JSON report."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys

_PACKAGES = ("grpcio", "protobuf", "numpy", "numba", "redis", "hiredis", "matplotlib")


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _redis_server_version() -> str | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    for word in out.stdout.split():
        if word.startswith("v="):
            return word[2:]
    return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_facts() -> dict:
    """Cores, CPU model, memory, OS, Python and library versions."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = None
    return {
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "cpu_model": _cpu_model(),
        "memory_bytes": memory,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {p: _version(p) for p in _PACKAGES},
        "redis_server": _redis_server_version(),
    }
