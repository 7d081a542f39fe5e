"""The tide window: a UTC time-of-day range in which training may run and saves are frequent.

It may wrap midnight (22:00-06:00). Outside it workers stop after their current
step and the controller saves at its tide interval (Monolith's
``tide_available_now`` and ``SecondOrStepTimerWithTideSetting``).
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
