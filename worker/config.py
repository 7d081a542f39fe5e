"""The training job's configuration: data, model, tables, optimizers, loop settings.

One JSON file (see ``worker/examples/reference.json``) configures every role:
the PS tables are derived from it (``tables_json``), so a slot's table and its
model slot can never disagree.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path

from ps_server.config import InitializerConfig, OptimizerConfig, PullDType
from worker.data import SyntheticConfig, slot_to_key
from worker.hooks import TideWindow
from worker.model import Device, ModelConfig, Pooling


class TrainMode(Enum):
    ASYNC = "async"
    SYNC = "sync"


def _build(cls, raw: dict, section: str):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{section}: unknown keys {unknown}; allowed: {sorted(known)}")
    return cls(**raw)


@dataclass(frozen=True)
class ModelSettings:
    dim: int = 8
    pooling: Pooling = Pooling.SUM
    first_n: int = 0
    hidden_units: tuple[int, ...] = (64, 32)
    interaction: bool = False

    def __post_init__(self):
        object.__setattr__(self, "pooling", Pooling(self.pooling))
        object.__setattr__(self, "hidden_units", tuple(self.hidden_units))
        if self.dim < 1:
            raise ValueError(f"model.dim must be >= 1, got {self.dim}")


@dataclass(frozen=True)
class EmbeddingSettings:
    """Settings shared by every slot's table."""

    optimizer: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig.from_dict({"type": "adagrad", "learning_rate": 0.05}))
    initializer: InitializerConfig = field(
        default_factory=lambda: InitializerConfig.from_dict({"type": "random_uniform"}))
    expire_after_s: int = 0
    occurrence_threshold: int = 0
    pull_dtype: PullDType = PullDType.FP32

    def __post_init__(self) -> None:
        if self.optimizer.kind.dense_only:
            raise ValueError(f"embedding.optimizer: {self.optimizer.kind.value!r} is dense-only; "
                             "use it as dense_optimizer")

    @classmethod
    def from_dict(cls, raw: dict) -> EmbeddingSettings:
        raw = dict(raw)
        if "optimizer" in raw:
            raw["optimizer"] = OptimizerConfig.from_dict(raw["optimizer"])
        if "initializer" in raw:
            raw["initializer"] = InitializerConfig.from_dict(raw["initializer"])
        if "pull_dtype" in raw:
            raw["pull_dtype"] = PullDType(raw["pull_dtype"])
        return _build(cls, raw, "embedding")


@dataclass(frozen=True)
class TrainSettings:
    """The loop. ``steps`` per worker (0: one pass over the data times ``epochs``)."""

    steps: int = 0
    epochs: int = 1
    batch_size: int = 1024
    mode: TrainMode = TrainMode.ASYNC
    log_every: int = 50
    eval_every: int = 0
    eval_examples: int = 0
    prefetch: int = 1
    push_queue: int = 2
    device: Device = Device.CPU
    seed: int = 0
    clip_norm: float = 0.0
    tide: TideWindow | None = None
    wait_until_step: int = 0

    def __post_init__(self):
        object.__setattr__(self, "mode", TrainMode(self.mode))
        if isinstance(self.tide, dict):
            object.__setattr__(self, "tide", _build(TideWindow, self.tide, "train.tide"))
        object.__setattr__(self, "device", Device(self.device))
        for name in ("steps", "eval_every", "eval_examples", "prefetch", "push_queue",
                     "wait_until_step"):
            if getattr(self, name) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("epochs", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.clip_norm < 0:
            raise ValueError(f"train.clip_norm must be >= 0, got {self.clip_norm}")


@dataclass(frozen=True)
class TrainConfig:
    data: SyntheticConfig = field(default_factory=SyntheticConfig)
    model: ModelSettings = field(default_factory=ModelSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    dense_optimizer: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig.from_dict({"type": "adam", "learning_rate": 0.002}))
    train: TrainSettings = field(default_factory=TrainSettings)

    @classmethod
    def from_dict(cls, raw: dict) -> TrainConfig:
        known = {"data", "model", "embedding", "dense_optimizer", "train"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown config sections {unknown}; allowed: {sorted(known)}")
        out = {}
        if "data" in raw:
            out["data"] = _build(SyntheticConfig, raw["data"], "data")
        if "model" in raw:
            out["model"] = _build(ModelSettings, raw["model"], "model")
        if "embedding" in raw:
            out["embedding"] = EmbeddingSettings.from_dict(raw["embedding"])
        if "dense_optimizer" in raw:
            out["dense_optimizer"] = OptimizerConfig.from_dict(raw["dense_optimizer"])
        if "train" in raw:
            out["train"] = _build(TrainSettings, raw["train"], "train")
        return cls(**out)

    @classmethod
    def load(cls, path: str | Path | None) -> TrainConfig:
        """Reads a JSON config; None or an empty file gives the defaults."""
        if path is None:
            return cls()
        text = Path(path).read_text()
        try:
            raw = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from exc
        return cls.from_dict(raw)

    def model_config(self) -> ModelConfig:
        m = self.model
        return ModelConfig.for_synthetic(self.data, dim=m.dim, pooling=m.pooling,
                                         first_n=m.first_n, hidden_units=m.hidden_units,
                                         interaction=m.interaction)

    def table_names(self) -> list[str]:
        return [slot_to_key(s) for s in range(self.data.num_slots)]

    def tables_json(self) -> dict:
        """The PS tables file: one table per slot, plus the dense optimizer."""
        e = self.embedding
        tables = [{
            "name": name, "dim": self.model.dim,
            "optimizer": e.optimizer.to_dict(), "initializer": e.initializer.to_dict(),
            "expire_after_s": e.expire_after_s, "occurrence_threshold": e.occurrence_threshold,
            "pull_dtype": e.pull_dtype.value,
        } for name in self.table_names()]
        return {"tables": tables, "dense_optimizer": self.dense_optimizer.to_dict()}

    def to_dict(self) -> dict:
        model = asdict(self.model)
        model["pooling"] = self.model.pooling.value
        model["hidden_units"] = list(self.model.hidden_units)
        train = asdict(self.train)
        train["mode"], train["device"] = self.train.mode.value, self.train.device.value
        e = self.embedding
        return {
            "data": asdict(self.data),
            "model": model,
            "embedding": {"optimizer": e.optimizer.to_dict(), "initializer": e.initializer.to_dict(),
                          "expire_after_s": e.expire_after_s,
                          "occurrence_threshold": e.occurrence_threshold,
                          "pull_dtype": e.pull_dtype.value},
            "dense_optimizer": self.dense_optimizer.to_dict(),
            "train": train,
        }
