"""What the controller knows of each worker: its last step, when it reported, if it finished."""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.errors import InvalidArgument


@dataclass
class WorkerState:
    step: int = 0
    reported_at: float | None = None
    finished: bool = False


class WorkerTable:
    """Reports of ``num_workers`` workers. The global step is ``base_step`` (the step of the
    checkpoint the run started from) plus the sum of the workers' steps in async training,
    where every worker step is a global step, or plus their common step in sync training."""

    def __init__(self, num_workers: int, base_step: int = 0, timeout_s: float = 60.0,
                 clock=time.monotonic):
        self.num_workers = num_workers
        self.base_step = base_step
        self.timeout_s = timeout_s
        self.clock = clock
        self.workers = [WorkerState() for _ in range(num_workers)]
        self.sync = False

    def check_index(self, index: int) -> None:
        if not 0 <= index < self.num_workers:
            raise InvalidArgument(
                f"worker_index {index} is outside 0..{self.num_workers - 1} "
                f"(the controller runs with {self.num_workers} workers)")

    def report(self, index: int, step: int, finished: bool, sync: bool) -> None:
        self.check_index(index)
        if step < 0:
            raise InvalidArgument(f"step must be >= 0, got {step}")
        w = self.workers[index]
        w.step, w.finished, w.reported_at = step, finished, self.clock()
        self.sync = sync

    @property
    def global_step(self) -> int:
        steps = [w.step for w in self.workers]
        return self.base_step + (max(steps, default=0) if self.sync else sum(steps))

    def alive(self, index: int) -> bool:
        w = self.workers[index]
        return (not w.finished and w.reported_at is not None
                and self.clock() - w.reported_at <= self.timeout_s)

    def since_report(self, index: int) -> float:
        at = self.workers[index].reported_at
        return -1.0 if at is None else self.clock() - at

    @property
    def finished(self) -> bool:
        return all(w.finished for w in self.workers)
