"""The files workers write for the launcher: progress lines and the chief's result.

``progress/worker-<i>.jsonl`` holds one JSON object per line,
``{"step", "examples", "loss", "time"}`` every few steps (step counts this
worker's steps, examples are cumulative for this worker), and lines with
``eval_auc`` / ``eval_logloss`` when an evaluation ran. ``result.json`` is
written by the chief when training ends.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_WORKER_FILE = re.compile(r"^worker-(\d+)\.jsonl$")


@dataclass(frozen=True)
class LossPoint:
    worker: int
    step: int
    examples: int
    loss: float
    time: float


@dataclass(frozen=True)
class EvalPoint:
    worker: int
    step: int
    auc: float
    logloss: float | None


@dataclass
class TrainingProgress:
    """Everything read from the progress files so far."""

    losses: list[LossPoint] = field(default_factory=list)
    evals: list[EvalPoint] = field(default_factory=list)
    first: dict[int, LossPoint] = field(default_factory=dict)
    latest: dict[int, LossPoint] = field(default_factory=dict)
    skipped_lines: int = 0

    @property
    def steps(self) -> int:
        """Steps done, summed over workers."""
        return sum(p.step for p in self.latest.values())

    @property
    def examples(self) -> int:
        return sum(p.examples for p in self.latest.values())

    @property
    def last_loss(self) -> float | None:
        if not self.latest:
            return None
        return sum(p.loss for p in self.latest.values()) / len(self.latest)

    @property
    def last_auc(self) -> float | None:
        return self.evals[-1].auc if self.evals else None

    def rates(self) -> tuple[float, float] | None:
        """(steps/s, examples/s) summed over workers, from each one's first and latest line.

        None until some worker has two lines at different times.
        """
        steps = examples = 0.0
        measured = False
        for worker, last in self.latest.items():
            first = self.first[worker]
            span = last.time - first.time
            if span > 0:
                steps += (last.step - first.step) / span
                examples += (last.examples - first.examples) / span
                measured = True
        return (steps, examples) if measured else None

    def add(self, worker: int, record: dict) -> None:
        step = _int(record.get("step"))
        if step is None:
            self.skipped_lines += 1
            return
        auc = _float(record.get("eval_auc"))
        if auc is not None:
            self.evals.append(EvalPoint(worker, step, auc, _float(record.get("eval_logloss"))))
        loss = _float(record.get("loss"))
        examples = _int(record.get("examples"))
        if loss is not None and examples is not None:
            point = LossPoint(worker, step, examples, loss, _float(record.get("time")) or 0.0)
            self.losses.append(point)
            if worker not in self.first or step < self.first[worker].step:
                self.first[worker] = point
            if worker not in self.latest or step >= self.latest[worker].step:
                self.latest[worker] = point
        elif auc is None:
            self.skipped_lines += 1


class ProgressReader:
    """Follows every ``worker-<i>.jsonl`` in a directory, reading only new complete lines."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.progress = TrainingProgress()
        self._offsets: dict[Path, int] = {}

    def poll(self) -> TrainingProgress:
        """Reads what was appended since the last call; a half-written last line waits."""
        try:
            paths = sorted(self.directory.iterdir())
        except FileNotFoundError:
            return self.progress
        for path in paths:
            match = _WORKER_FILE.match(path.name)
            if match:
                self._read_new(path, int(match.group(1)))
        return self.progress

    def _read_new(self, path: Path, worker: int) -> None:
        offset = self._offsets.get(path, 0)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        self._offsets[path] = offset + end + 1
        for raw in chunk[:end].split(b"\n"):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.progress.skipped_lines += 1
                continue
            if isinstance(record, dict):
                self.progress.add(worker, record)
            else:
                self.progress.skipped_lines += 1


@dataclass(frozen=True)
class TrainingResult:
    """The chief's ``result.json``; fields it lacks are None."""

    steps: int | None = None
    examples: int | None = None
    elapsed_s: float | None = None
    eval_auc: float | None = None
    eval_logloss: float | None = None
    calibration: float | None = None
    bayes_auc: float | None = None
    baseline_auc: float | None = None
    mode: str | None = None

    @classmethod
    def load(cls, path: Path) -> TrainingResult | None:
        """The result in ``path``; None if the file is missing or not a JSON object."""
        try:
            body = json.loads(Path(path).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not isinstance(body, dict):
            return None
        mode = body.get("mode")
        return cls(steps=_int(body.get("steps")), examples=_int(body.get("examples")),
                   elapsed_s=_float(body.get("elapsed_s")), eval_auc=_float(body.get("eval_auc")),
                   eval_logloss=_float(body.get("eval_logloss")),
                   calibration=_float(body.get("calibration")),
                   bayes_auc=_float(body.get("bayes_auc")),
                   baseline_auc=_float(body.get("baseline_auc")),
                   mode=mode if isinstance(mode, str) else None)


def total_steps(config_path: Path, num_workers: int) -> int | None:
    """``train.steps`` of a training config times the number of workers, if it says."""
    try:
        body = json.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    train = body.get("train") if isinstance(body, dict) else None
    steps = _int(train.get("steps")) if isinstance(train, dict) else None
    return steps * num_workers if steps and steps > 0 else None


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
