"""Training-loop hooks from Monolith's session_run_hooks: the tide window.

A tide window is a UTC time-of-day range in which training may run (it may
wrap midnight: 22:00-06:00). Outside it the worker stops after its current step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


def before(hour1: int, minute1: int, hour2: int, minute2: int) -> bool:
    """Whether hour1:minute1 is strictly earlier in the day than hour2:minute2."""
    return (hour1, minute1) < (hour2, minute2)


def tide_available_now(start_hour: int, start_minute: int, end_hour: int, end_minute: int,
                       now: dt.datetime | None = None) -> bool:
    """Whether the current UTC time lies in [start, end); start > end wraps midnight."""
    now = now or dt.datetime.now(dt.timezone.utc)
    h, m = now.hour, now.minute
    if before(start_hour, start_minute, end_hour, end_minute):
        return not before(h, m, start_hour, start_minute) and before(h, m, end_hour, end_minute)
    return not before(h, m, start_hour, start_minute) or before(h, m, end_hour, end_minute)


@dataclass(frozen=True)
class TideWindow:
    start_hour: int
    start_minute: int
    end_hour: int
    end_minute: int

    def __post_init__(self):
        for name in ("start_hour", "end_hour"):
            if not 0 <= getattr(self, name) <= 23:
                raise ValueError(f"tide.{name} must be in 0..23, got {getattr(self, name)}")
        for name in ("start_minute", "end_minute"):
            if not 0 <= getattr(self, name) <= 59:
                raise ValueError(f"tide.{name} must be in 0..59, got {getattr(self, name)}")

    def available(self, now: dt.datetime | None = None) -> bool:
        return tide_available_now(self.start_hour, self.start_minute, self.end_hour,
                                  self.end_minute, now)


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
