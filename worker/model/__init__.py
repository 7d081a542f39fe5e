"""Dense model math over an array module (NumPy or CuPy): CTR model, tasks, optimizer, metrics."""

from worker.model.backend import (
    Device,
    array_module_of,
    from_host,
    get_array_module,
    gpu_available,
    to_host,
)
from worker.model.baseline import FrequencyBaseline, bayes_optimal_auc
from worker.model.clip import clip_by_global_norm, global_norm
from worker.model.ctr import CTRModel, ModelConfig
from worker.model.lookup import dedup_slots
from worker.model.metrics import auc, calibration, logloss
from worker.model.shampoo import ShampooConfig, ShampooOptimizer
from worker.model.tasks import EmbeddingSumModel, Task, TaskKind, make_task
from worker.model.types import Model, Pooling, SlotLookup, SlotSpec, StepResult

__all__ = [
    "CTRModel",
    "Device",
    "EmbeddingSumModel",
    "FrequencyBaseline",
    "Model",
    "ModelConfig",
    "Pooling",
    "ShampooConfig",
    "ShampooOptimizer",
    "SlotLookup",
    "SlotSpec",
    "StepResult",
    "Task",
    "TaskKind",
    "array_module_of",
    "auc",
    "bayes_optimal_auc",
    "calibration",
    "clip_by_global_norm",
    "dedup_slots",
    "from_host",
    "get_array_module",
    "global_norm",
    "gpu_available",
    "logloss",
    "make_task",
    "to_host",
]
