"""Training-loop hooks from Monolith's session_run_hooks: tide window, restore-done, delayed start.

Outside the tide window (services.tide) the worker stops after its current step.
"""

from __future__ import annotations

from services.tide import TideWindow, before, tide_available_now

__all__ = ["TideWindow", "before", "tide_available_now", "mark_restore_done", "wait_for_restore",
           "wait_until_global_step"]

RESTORE_DONE = "restore.done"


def mark_restore_done(model_dir) -> None:
    """The chief's signal that the model is initialized (or restored) and workers may start."""
    from pathlib import Path

    path = Path(model_dir) / RESTORE_DONE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def wait_for_restore(model_dir, timeout_s: float = 1800.0, poll_s: float = 0.1) -> None:
    """Non-chief workers wait for the chief's restore-done mark (seed's sync_hooks)."""
    import time
    from pathlib import Path

    path = Path(model_dir) / RESTORE_DONE
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the chief did not mark {path} within {timeout_s} s")
        time.sleep(poll_s)


def wait_until_global_step(read_step, step: int, timeout_s: float = 1800.0,
                           poll_s: float = 0.5) -> int:
    """Blocks until ``read_step()`` reaches ``step`` (a worker's delayed start); returns it."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        current = read_step()
        if current >= step:
            return current
        if time.monotonic() > deadline:
            raise TimeoutError(f"global step {current} did not reach {step} within {timeout_s} s")
        time.sleep(poll_s)
