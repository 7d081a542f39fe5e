"""A worker's Prometheus metrics: steps, examples, last loss, eval AUC (prefix from the env)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.metrics import metric_prefix


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry, worker_index: int):
        prefix = metric_prefix()
        labels = {"worker": str(worker_index)}
        self.steps = Counter(f"{prefix}_worker_steps", "Training steps done",
                             list(labels), registry=registry).labels(**labels)
        self.examples = Counter(f"{prefix}_worker_examples", "Training examples consumed",
                                list(labels), registry=registry).labels(**labels)
        self.loss = Gauge(f"{prefix}_worker_loss", "Loss of the last step", list(labels),
                          registry=registry).labels(**labels)
        self.eval_auc = Gauge(f"{prefix}_worker_eval_auc", "AUC of the last evaluation",
                              list(labels), registry=registry).labels(**labels)
