"""Process bootstrap every server role shares: uvloop, malloc tuning, signals, graceful stop."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

from services.signals import add_stack_dump_handler

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc(mmap_threshold: int = 64 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Keeps glibc from mmapping (and page-faulting) a fresh region per MiB-sized message.

    Same effect as MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_, set from
    inside the process. Returns False where mallopt is not available.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold))
    except (OSError, AttributeError):
        return False


async def wait_for_stop_signal() -> int:
    """Returns the number of the first SIGTERM or SIGINT the process receives."""
    loop = asyncio.get_running_loop()
    received: asyncio.Future[int] = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(
            sig, lambda s=sig: received.done() or received.set_result(int(s)))
    signum = await received
    log.info("stop signal received", extra={"signal": signal.Signals(signum).name})
    return signum


def run(main: Callable[[], Awaitable[int]]) -> int:
    """Runs ``main`` on uvloop with the SIGUSR1 stack dump installed; returns its exit code."""
    import uvloop

    add_stack_dump_handler()
    tune_malloc()
    return uvloop.run(main())


def env_int(prog: str, name: str, default: int, environ=os.environ) -> int:
    """``$name`` as an int (the launch style's MLP_* defaults), ``default`` when unset."""
    value = environ.get(name)
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        raise SystemExit(f"{prog}: {name}={value!r} is not an integer") from None


def serve_until_stopped(prog: str, build: Callable[[], object],
                        errors: tuple[type[BaseException], ...] = (OSError, ValueError)) -> int:
    """Builds a server (``start()``, ``stop(grace_s=None)``), serves until SIGTERM or SIGINT,
    stops it gracefully. A start that fails with one of ``errors`` prints ``prog: message``,
    releases what was started and exits 1."""

    async def serve() -> int:
        server = None
        try:
            server = build()
            await server.start()
        except errors as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            if server is not None:
                await server.stop(0)
            return 1
        await wait_for_stop_signal()
        await server.stop()
        return 0

    return run(serve)
