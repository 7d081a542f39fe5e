"""SIGUSR1 prints every thread's stack, then calls whatever handler was there before."""

from __future__ import annotations

import signal
import sys
import threading
import traceback


def format_all_stacks() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    chunks = []
    for ident, frame in sys._current_frames().items():
        chunks.append(f"--- thread {names.get(ident, '?')} ({ident}) ---\n")
        chunks.extend(traceback.format_stack(frame))
    return "".join(chunks)


def add_stack_dump_handler(sig: int = signal.SIGUSR1, stream=None) -> None:
    """Installs the stack dump on ``sig``, chaining the previous Python handler."""
    previous = signal.getsignal(sig)

    def handler(signum, frame):
        out = stream or sys.stderr
        out.write(f"stack dump on signal {signum}\n{format_all_stacks()}")
        out.flush()
        if callable(previous):
            previous(signum, frame)

    signal.signal(sig, handler)
