"""Table and optimizer configuration: frozen, self-validating dataclasses.

Strings from JSON become enums here, once; everything deeper compares enums.
Defaults of every optimizer hyperparameter live in ``OPTIMIZER_DEFAULTS`` and
nowhere else. Invalid values raise ValueError naming the field, the value and
what is allowed.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class OptimizerKind(enum.Enum):
    SGD = "sgd"
    ADAGRAD = "adagrad"
    MOMENTUM = "momentum"
    ADAM = "adam"
    AMSGRAD = "amsgrad"
    ADADELTA = "adadelta"
    FTRL = "ftrl"
    RMSPROP = "rmsprop"
    RMSPROPV2 = "rmspropv2"
    ADAMOM = "adamom"
    SHAMPOO = "shampoo"

    @property
    def dense_only(self) -> bool:
        """True for optimizers of whole dense variables, never of embedding rows."""
        return self in DENSE_ONLY


DENSE_ONLY: frozenset[OptimizerKind] = frozenset({OptimizerKind.SHAMPOO})


class InitializerKind(enum.Enum):
    ZEROS = "zeros"
    ONES = "ones"
    CONSTANT = "constant"
    RANDOM_UNIFORM = "random_uniform"


class PullDType(enum.Enum):
    FP32 = "fp32"
    FP16 = "fp16"


_COMMON = {"learning_rate": 0.01, "weight_decay": 0.0, "warmup_steps": 0.0}
_ADAM = {"beta1": 0.9, "beta2": 0.99, "epsilon": 0.01}
_RMSPROP = {"beta1": 0.9, "beta2": 0.9, "epsilon": 0.1}

OPTIMIZER_DEFAULTS: Mapping[OptimizerKind, Mapping[str, float]] = {
    OptimizerKind.SGD: {**_COMMON},
    OptimizerKind.ADAGRAD: {**_COMMON, "learning_rate": 0.001, "initial_accumulator": 0.1},
    OptimizerKind.MOMENTUM: {**_COMMON, "momentum": 0.9, "use_nesterov": 0.0},
    OptimizerKind.ADAM: {**_COMMON, **_ADAM},
    OptimizerKind.AMSGRAD: {**_COMMON, **_ADAM},
    OptimizerKind.ADADELTA: {**_COMMON, "rho": 0.9, "epsilon": 0.01},
    OptimizerKind.FTRL: {
        **_COMMON, "initial_accumulator": 0.1, "beta": 0.0, "l1": 0.0, "l2": 0.0,
    },
    OptimizerKind.RMSPROP: {**_COMMON, **_RMSPROP},
    OptimizerKind.RMSPROPV2: {**_COMMON, **_RMSPROP},
    OptimizerKind.ADAMOM: {**_COMMON, "ada_decay": 0.99, "mom_decay": 0.9, "epsilon": 1e-6},
    OptimizerKind.SHAMPOO: {
        "learning_rate": 0.03, "beta_1": 0.9, "beta_2": 1.0, "warmup": 5000.0, "tau_1": 200.0,
        "tau_2": 20.0, "eigen_head": 100.0, "eigen_tail": 100.0, "damping_epsilon": 1e-3,
    },
}
"""Monolith's defaults (reference/optimizers.md). The reference gives none for
RMSprop v1/v2 and Adamom: those take learning_rate 0.01 and the decay/epsilon
values of the golden tests (beta1 0.9, beta2 0.9, epsilon 0.1; ada_decay 0.99,
mom_decay 0.9, epsilon 1e-6). weight_decay defaults to 0 everywhere. Shampoo (dense-only) takes Monolith's
defaults, those of ``ps_server.optim.shampoo.ShampooConfig``, and has its own
``warmup`` instead of ``warmup_steps`` and no weight decay."""

# name -> (low, high, low inclusive, high inclusive), checked for every optimizer using it
_RANGES: Mapping[str, tuple[float, float, bool, bool]] = {
    "learning_rate": (0.0, math.inf, False, False),
    "weight_decay": (0.0, math.inf, True, False),
    "warmup_steps": (0.0, math.inf, True, False),
    "initial_accumulator": (0.0, math.inf, True, False),
    "momentum": (0.0, math.inf, True, False),
    "beta1": (0.0, 1.0, True, False),
    "beta2": (0.0, 1.0, True, False),
    "epsilon": (0.0, math.inf, True, False),
    "rho": (0.0, 1.0, True, True),
    "beta": (0.0, math.inf, True, False),
    "l1": (0.0, math.inf, True, False),
    "l2": (0.0, math.inf, True, False),
    "ada_decay": (0.0, 1.0, True, True),
    "mom_decay": (0.0, 1.0, True, True),
    "beta_1": (0.0, 1.0, True, False),
    "beta_2": (0.0, 1.0, False, True),
    "warmup": (0.0, math.inf, True, False),
    "tau_1": (1.0, math.inf, True, False),
    "tau_2": (1.0, math.inf, True, False),
    "eigen_head": (0.0, math.inf, True, False),
    "eigen_tail": (0.0, math.inf, True, False),
    "damping_epsilon": (0.0, math.inf, False, False),
}
_INTEGRAL = {"warmup_steps", "warmup", "tau_1", "tau_2", "eigen_head", "eigen_tail"}
_FLAGS = {"use_nesterov"}
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
MAX_DIM = 65536
MAX_OCCURRENCE_THRESHOLD = 65535


def _invalid(message: str) -> ValueError:
    """The one error type of configuration: a user-facing ValueError."""
    return ValueError(message)


def _enum(enum_type: type[enum.Enum], value: Any, field: str) -> enum.Enum:
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum_type)
        raise ValueError(f"{field}: got {value!r}, allowed: {allowed}") from None


def _require_enum(value: Any, enum_type: type[enum.Enum], field: str) -> None:
    if not isinstance(value, enum_type):
        raise _invalid(f"{field}: got {value!r}, must be a {enum_type.__name__}")


def _require_int(value: Any, field: str, low: int, high: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{field}: got {value!r}, must be an integer {bound}")


def _reject_unknown(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}, allowed: {sorted(allowed)}")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """An optimizer and the hyperparameters that differ from its defaults.

    ``hyperparameters`` is stored sorted by name so equal configs compare equal.
    """

    kind: OptimizerKind
    hyperparameters: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        _require_enum(self.kind, OptimizerKind, "optimizer.type")
        allowed = OPTIMIZER_DEFAULTS[self.kind]
        seen: dict[str, float] = {}
        for item in self.hyperparameters:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
                raise _invalid(f"optimizer.hyperparameters: got {item!r}, expected (name, value)")
            name, value = item
            if name not in allowed:
                raise ValueError(
                    f"optimizer.{name}: not a hyperparameter of {self.kind.value}, "
                    f"allowed: {sorted(allowed)}"
                )
            if name in seen:
                raise ValueError(f"optimizer.{name}: given twice")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _invalid(f"optimizer.{name}: got {value!r}, must be a number")
            seen[name] = float(value)
        for name, value in seen.items():
            _check_hyperparameter(name, value)
        if self.kind is OptimizerKind.ADAGRAD and seen.get("initial_accumulator", 1.0) <= 0:
            raise ValueError(f"optimizer.initial_accumulator: got {seen['initial_accumulator']}, "
                             "must be > 0 for adagrad (it divides by the root of the accumulator)")
        object.__setattr__(self, "hyperparameters", tuple(sorted(seen.items())))

    @property
    def params(self) -> dict[str, float]:
        """Every hyperparameter of this optimizer, defaults filled in."""
        return {**OPTIMIZER_DEFAULTS[self.kind], **dict(self.hyperparameters)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OptimizerConfig:
        """``{"type": "adagrad", "learning_rate": 0.1, ...}`` -> OptimizerConfig."""
        if not isinstance(data, Mapping) or "type" not in data:
            raise ValueError(f"optimizer: got {data!r}, expected an object with a 'type'")
        kind = _enum(OptimizerKind, data["type"], "optimizer.type")
        return cls(kind, tuple((k, v) for k, v in data.items() if k != "type"))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind.value, **dict(self.hyperparameters)}


def _check_hyperparameter(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"optimizer.{name}: got {value!r}, must be finite")
    if name in _FLAGS:
        if value not in (0.0, 1.0):
            raise ValueError(f"optimizer.{name}: got {value!r}, allowed: 0 or 1")
        return
    if name in _INTEGRAL and value != int(value):
        raise ValueError(f"optimizer.{name}: got {value!r}, must be a whole number")
    low, high, low_in, high_in = _RANGES[name]
    if (value < low or (value == low and not low_in)) or (
        value > high or (value == high and not high_in)
    ):
        lb = "[" if low_in else "("
        hb = "]" if high_in else ")"
        raise ValueError(f"optimizer.{name}: got {value!r}, allowed: {lb}{low}, {high}{hb}")


@dataclasses.dataclass(frozen=True)
class InitializerConfig:
    """How a new row's embedding is filled.

    ``value`` is used by CONSTANT; ``minval``/``maxval``/``seed`` by RANDOM_UNIFORM,
    whose values are a pure function of (seed, id, column).
    """

    kind: InitializerKind
    value: float = 0.0
    minval: float = -0.05
    maxval: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        _require_enum(self.kind, InitializerKind, "initializer.type")
        for name in ("value", "minval", "maxval"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"initializer.{name}: got {v!r}, must be a finite number")
            object.__setattr__(self, name, float(v))
        if self.minval > self.maxval:
            raise ValueError(
                f"initializer.minval: got {self.minval!r} > maxval {self.maxval!r}, "
                "must be <= maxval"
            )
        _require_int(self.seed, "initializer.seed", -(2**63), 2**63 - 1)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InitializerConfig:
        """``{"type": "random_uniform", "minval": -0.1, "maxval": 0.1, "seed": 7}``."""
        if not isinstance(data, Mapping) or "type" not in data:
            raise ValueError(f"initializer: got {data!r}, expected an object with a 'type'")
        _reject_unknown(data, {"type", "value", "minval", "maxval", "seed"}, "initializer")
        kind = _enum(InitializerKind, data["type"], "initializer.type")
        return cls(kind, **{k: v for k, v in data.items() if k != "type"})

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind.value,
            "value": self.value,
            "minval": self.minval,
            "maxval": self.maxval,
            "seed": self.seed,
        }


@dataclasses.dataclass(frozen=True)
class TableConfig:
    """One embedding table.

    expire_after_s: rows older than this (data time) are evicted; 0 = never.
    occurrence_threshold: an id is admitted on its (T+1)-th occurrence; 0 = at once.
    touched_capacity: bound of the touched-key set (Monolith semantics).
    filter_capacity: counters of the occurrence sketch (power of two).
    """

    name: str
    dim: int
    optimizer: OptimizerConfig
    initializer: InitializerConfig
    expire_after_s: int = 0
    occurrence_threshold: int = 0
    pull_dtype: PullDType = PullDType.FP32
    touched_capacity: int = 2_097_152
    filter_capacity: int = 1 << 22

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(
                f"table.name: got {self.name!r}, allowed: 1-128 characters of [A-Za-z0-9_.-]"
            )
        _require_int(self.dim, f"table {self.name}: dim", 1, MAX_DIM)
        if not isinstance(self.optimizer, OptimizerConfig):
            raise _invalid(f"table {self.name}: optimizer: got {self.optimizer!r}")
        if self.optimizer.kind.dense_only:
            raise ValueError(
                f"table {self.name}: optimizer: {self.optimizer.kind.value!r} is dense-only "
                "(Shampoo updates whole dense variables, not embedding rows); "
                "use it as dense_optimizer"
            )
        if not isinstance(self.initializer, InitializerConfig):
            raise _invalid(f"table {self.name}: initializer: got {self.initializer!r}")
        _require_int(self.expire_after_s, f"table {self.name}: expire_after_s", 0)
        _require_int(
            self.occurrence_threshold,
            f"table {self.name}: occurrence_threshold",
            0,
            MAX_OCCURRENCE_THRESHOLD,
        )
        _require_enum(self.pull_dtype, PullDType, f"table {self.name}: pull_dtype")
        _require_int(self.touched_capacity, f"table {self.name}: touched_capacity", 1)
        fc = self.filter_capacity
        if isinstance(fc, bool) or not isinstance(fc, int) or fc < 1024 or fc & (fc - 1):
            raise ValueError(
                f"table {self.name}: filter_capacity: got {fc!r}, "
                "allowed: a power of two >= 1024"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableConfig:
        if not isinstance(data, Mapping):
            raise _invalid(f"table: got {data!r}, expected an object")
        fields = {f.name for f in dataclasses.fields(cls)}
        _reject_unknown(data, fields, f"table {data.get('name', '?')}")
        for required in ("name", "dim", "optimizer", "initializer"):
            if required not in data:
                raise ValueError(f"table {data.get('name', '?')}: missing '{required}'")
        kwargs = dict(data)
        kwargs["optimizer"] = OptimizerConfig.from_dict(data["optimizer"])
        kwargs["initializer"] = InitializerConfig.from_dict(data["initializer"])
        if "pull_dtype" in data:
            kwargs["pull_dtype"] = _enum(PullDType, data["pull_dtype"], "table.pull_dtype")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dim": self.dim,
            "optimizer": self.optimizer.to_dict(),
            "initializer": self.initializer.to_dict(),
            "expire_after_s": self.expire_after_s,
            "occurrence_threshold": self.occurrence_threshold,
            "pull_dtype": self.pull_dtype.value,
            "touched_capacity": self.touched_capacity,
            "filter_capacity": self.filter_capacity,
        }


def _default_dense_optimizer() -> OptimizerConfig:
    return OptimizerConfig(OptimizerKind.ADAGRAD)


@dataclasses.dataclass(frozen=True)
class TablesConfig:
    """Every table a PS hosts (each PS holds its shard of each) and the dense optimizer."""

    tables: tuple[TableConfig, ...]
    dense_optimizer: OptimizerConfig = dataclasses.field(default_factory=_default_dense_optimizer)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", tuple(self.tables))
        names: set[str] = set()
        for table in self.tables:
            if not isinstance(table, TableConfig):
                raise _invalid(f"tables: got {table!r}, expected TableConfig")
            if table.name in names:
                raise ValueError(f"tables: duplicate table name {table.name!r}")
            names.add(table.name)
        if not isinstance(self.dense_optimizer, OptimizerConfig):
            raise _invalid(f"dense_optimizer: got {self.dense_optimizer!r}")

    def table(self, name: str) -> TableConfig:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TablesConfig:
        if not isinstance(data, Mapping) or not isinstance(data.get("tables"), list):
            raise _invalid("tables config: expected an object with a 'tables' list")
        _reject_unknown(data, {"tables", "dense_optimizer"}, "tables config")
        tables = tuple(TableConfig.from_dict(t) for t in data["tables"])
        if "dense_optimizer" in data:
            return cls(tables, OptimizerConfig.from_dict(data["dense_optimizer"]))
        return cls(tables)

    @classmethod
    def load(cls, path: str | Path) -> TablesConfig:
        """Reads ``{"tables": [...], "dense_optimizer": {...}}`` (dense optional: adagrad)."""
        text = Path(path).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tables": [t.to_dict() for t in self.tables],
            "dense_optimizer": self.dense_optimizer.to_dict(),
        }
