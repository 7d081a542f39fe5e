"""Contracts between the benchmark's parent process and its client processes."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from ps_server.config import PullDType
from services.security import SecurityConfig
from worker.benchmark.config import Operation, WorkloadConfig


class BenchmarkError(Exception):
    """A benchmark could not run (a server did not start, a client failed): exit status 1."""


@dataclass(frozen=True)
class TableSpec:
    """A table the requests address: rows of ``dim`` pulled as ``pull_dtype``."""

    name: str
    dim: int
    pull_dtype: PullDType = PullDType.FP32

    @property
    def itemsize(self) -> int:
        return 2 if self.pull_dtype is PullDType.FP16 else 4


@dataclass(frozen=True)
class Target:
    """PS shards measured together (shard i at ``addresses[i]``) and the tables a request
    carries. ``delay_s`` is added to every request: planted slowness for tests.
    ``security``: TLS and token of the connections (None: plaintext)."""

    addresses: tuple[str, ...]
    tables: tuple[TableSpec, ...]
    delay_s: float = 0.0
    security: SecurityConfig | None = None


@dataclass(frozen=True)
class ClientSpec:
    """Everything client process ``index`` needs; ``redis`` is host:port or None."""

    index: int
    targets: tuple[Target, ...]
    workload: WorkloadConfig
    in_flight: int
    redis: str | None = None


class CommandKind(enum.Enum):
    PREPARE = "prepare"
    RUN = "run"
    STOP = "stop"


@dataclass(frozen=True)
class Command:
    """Parent -> client. PREPARE connects to ``target`` and warms it up; RUN loads it with
    ``operation`` from monotonic time ``start_at`` and measures a window of ``seconds``
    that opens ``warmup_s`` later."""

    kind: CommandKind
    target: int = 0
    operation: Operation | None = None
    start_at: float = 0.0
    warmup_s: float = 0.0
    seconds: float = 0.0


@dataclass(frozen=True)
class Ready:
    """Client -> parent: PREPARE is done."""

    client: int


@dataclass(frozen=True)
class Failure:
    """Client -> parent: the client stopped on an error, described in one line."""

    client: int
    message: str


@dataclass(frozen=True)
class PhaseResult:
    """Client -> parent: requests completed within the window of one RUN.

    ``latency_s`` (k,) float64 and ``done_s`` (k,) float64 (completion time since the
    window opened) per request; each request moved ``rows_per_request`` rows;
    ``bytes`` counts request and reply bytes of them all.
    """

    client: int
    operation: Operation
    rows_per_request: int
    bytes: int
    latency_s: np.ndarray
    done_s: np.ndarray

    @property
    def requests(self) -> int:
        return int(self.done_s.shape[0])

    @property
    def rows(self) -> int:
        return self.requests * self.rows_per_request
