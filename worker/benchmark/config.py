"""Settings of ``ps-benchmark``: frozen dataclasses that validate themselves, and their enums.

Strings from flags become enums once, in the CLI; everything deeper compares
enums. Invalid values raise ValueError naming the field, the value and what
is allowed.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from ps_server.config import OptimizerKind, PullDType
from services.security import SecurityConfig


class Backend(enum.Enum):
    """What serves a request: the PS itself, or one of the baselines measured beside it."""

    PS = "ps"
    TRANSFER = "transfer"
    TRANSFER_PROTO = "transfer_proto"
    REDIS = "redis"


BASELINES = (Backend.TRANSFER, Backend.TRANSFER_PROTO, Backend.REDIS)


class Direction(enum.Enum):
    """Pull (read rows), push (apply gradients), or step (a pull then a push, as training does)."""

    PULL = "pull"
    PUSH = "push"
    STEP = "step"


class GridMode(enum.Enum):
    """AXES varies one axis at a time around the base point; FULL runs the product."""

    AXES = "axes"
    FULL = "full"


@dataclass(frozen=True)
class Operation:
    """One measured kind of request: who serves it and which way the rows go."""

    backend: Backend
    direction: Direction

    @property
    def name(self) -> str:
        return f"{self.backend.value}_{self.direction.value}"


def _require(ok: bool, name: str, value, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{name}: got {value!r}, {allowed}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value, name: str, high: int | None = None) -> None:
    ok = _is_int(value) and value >= 1 and (high is None or value <= high)
    _require(ok, name, value, f"must be an integer in 1..{high}" if high else "must be >= 1")


def _positive_seconds(value, name: str) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    _require(ok and math.isfinite(value) and value > 0, name, value, "must be seconds > 0")


def check_address(address: str, name: str = "ps") -> None:
    """ValueError unless ``address`` is ``host:port`` with a port in 1..65535."""
    host, _, port = address.rpartition(":")
    ok = bool(host) and port.isdigit() and 1 <= int(port) <= 65535
    _require(ok, name, address, "expected host:port")


MAX_BATCH = 1 << 24


@dataclass(frozen=True)
class WorkloadConfig:
    """Requests of a run: ``batch_size`` distinct ids per table per request, ``tables``
    tables per request, ids drawn from a Zipf(``zipf``) stream over ``vocab`` ids."""

    batch_size: int = 65536
    tables: int = 1
    vocab: int = 1 << 24
    zipf: float = 1.05
    seed: int = 0

    def __post_init__(self):
        _positive_int(self.batch_size, "batch_size", MAX_BATCH)
        _positive_int(self.tables, "tables", 64)
        _positive_int(self.vocab, "vocab", 1 << 62)
        _require(self.vocab >= 2 * self.batch_size, "vocab", self.vocab,
                 f"must be >= 2 x batch_size ({2 * self.batch_size})")
        ok = isinstance(self.zipf, (int, float)) and not isinstance(self.zipf, bool)
        _require(ok and math.isfinite(self.zipf) and 0 <= self.zipf <= 4, "zipf", self.zipf,
                 "must be in [0, 4] (0: uniform)")
        _require(_is_int(self.seed) and self.seed >= 0, "seed", self.seed, "must be >= 0")


@dataclass(frozen=True)
class LocalPS:
    """PS processes the benchmark starts on loopback: each hosts ``tables`` tables
    ``t0``, ``t1``, ... of ``dim`` float32 with ``optimizer``, pulled as ``pull_dtype``."""

    num_ps: int = 1
    dim: int = 16
    optimizer: OptimizerKind = OptimizerKind.ADAGRAD
    pull_dtype: PullDType = PullDType.FP32
    tables: int = 1

    def __post_init__(self):
        _positive_int(self.num_ps, "num_ps", 64)
        _positive_int(self.dim, "dim", 65536)
        _require(isinstance(self.optimizer, OptimizerKind) and not self.optimizer.dense_only,
                 "optimizer", self.optimizer, "must be an OptimizerKind of embedding rows")
        _require(isinstance(self.pull_dtype, PullDType), "pull_dtype", self.pull_dtype,
                 "must be a PullDType")
        _positive_int(self.tables, "tables", 64)


@dataclass(frozen=True)
class RunConfig:
    """One ``run``: either ``local`` PS processes to start or ``ps`` addresses to attach to
    (shard i at ``ps[i]``), driven by ``clients`` processes with ``in_flight`` requests
    each for ``seconds`` in all, split evenly over the PS's and ``baselines``' operations.
    ``security``: TLS and token of the attached PS (the started ones serve plaintext)."""

    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    local: LocalPS | None = field(default_factory=LocalPS)
    ps: tuple[str, ...] = ()
    clients: int = 1
    in_flight: int = 2
    seconds: float = 40.0
    baselines: tuple[Backend, ...] = BASELINES
    security: SecurityConfig | None = None

    def __post_init__(self):
        object.__setattr__(self, "ps", tuple(self.ps))
        _require(self.security is None or bool(self.ps), "security", "TLS/token flags",
                 "apply to attached PS only: give --ps")
        object.__setattr__(self, "baselines", tuple(self.baselines))
        _require(isinstance(self.workload, WorkloadConfig), "workload", self.workload,
                 "must be a WorkloadConfig")
        _require((self.local is None) != (not self.ps), "ps", self.ps,
                 "give either PS addresses to attach to or PS processes to start, not both")
        for address in self.ps:
            check_address(address)
        _require(len(set(self.ps)) == len(self.ps), "ps", ",".join(self.ps),
                 "addresses must be distinct")
        if self.local is not None:
            _require(self.local.tables == self.workload.tables, "tables", self.local.tables,
                     f"the started PS must host the {self.workload.tables} tables per request")
        _positive_int(self.clients, "clients", 256)
        _positive_int(self.in_flight, "in_flight", 1024)
        _positive_seconds(self.seconds, "seconds")
        for b in self.baselines:
            _require(b in BASELINES, "baselines", b,
                     f"allowed: {', '.join(x.value for x in BASELINES)}")
        _require(len(set(self.baselines)) == len(self.baselines), "baselines",
                 [b.value for b in self.baselines], "must not repeat")

    @property
    def attached(self) -> bool:
        return self.local is None

    @property
    def seconds_per_operation(self) -> float:
        return self.seconds / len(self.operations())

    def operations(self) -> list[Operation]:
        """Pull and push of the PS, then of each baseline, in measuring order."""
        backends = [Backend.PS, *self.baselines]
        return [Operation(b, d) for b in backends for d in (Direction.PULL, Direction.PUSH)]


@dataclass(frozen=True)
class SweepConfig:
    """``run`` over a grid of batch sizes, dims and numbers of PS around ``base``."""

    base: RunConfig
    batch_sizes: tuple[int, ...] = (4096, 65536)
    dims: tuple[int, ...] = (16, 64)
    num_ps: tuple[int, ...] = (1, 2)
    mode: GridMode = GridMode.AXES

    def __post_init__(self):
        for name in ("batch_sizes", "dims", "num_ps"):
            values = tuple(getattr(self, name))
            object.__setattr__(self, name, values)
            _require(bool(values), name, values, "must name at least one value")
            _require(len(set(values)) == len(values), name, values, "must not repeat")
        _require(self.base.local is not None, "ps", self.base.ps,
                 "a sweep starts its own PS processes; it cannot attach")
        _require(isinstance(self.mode, GridMode), "mode", self.mode, "must be a GridMode")
        for b in self.batch_sizes:
            _positive_int(b, "batch_sizes", MAX_BATCH)
            _require(self.base.workload.vocab >= 2 * b, "vocab", self.base.workload.vocab,
                     f"must be >= 2 x the largest batch size ({2 * b})")
        for d in self.dims:
            _positive_int(d, "dims", 65536)
        for n in self.num_ps:
            _positive_int(n, "num_ps", 64)
