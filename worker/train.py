"""The training loop: pull (prefetched), forward/backward, push (queued), on any parameter store.

Each step's pull and push carry the dense variables with the embeddings (one
round trip each per PS, not two).

Async mode overlaps the next batch's pull with the current step and keeps up
to ``push_queue`` pushes in flight. Sync mode is lock-step: every worker
contributes to step s on every PS, which applies the mean once, then pulls
for step s+1 (so no prefetch). End of data on any worker stops all in sync mode.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.config import TrainConfig, TrainMode
from worker.data import Batch, Split, SyntheticStream
from worker.hooks import mark_restore_done, wait_for_restore, wait_until_global_step
from worker.model import CTRModel, clip_by_global_norm, dedup_slots, get_array_module, to_host
from worker.model.backend import from_host

log = logging.getLogger(__name__)


class ProgressLog:
    """Appends one JSON object per line to ``<model_dir>/progress/worker-<i>.jsonl``."""

    def __init__(self, model_dir: Path | None, worker_index: int):
        self.path = None
        if model_dir is not None:
            self.path = Path(model_dir) / "progress" / f"worker-{worker_index}.jsonl"
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record) -> None:
        if self.path is None:
            return
        record["time"] = time.time()
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


@dataclass
class TrainStats:
    steps: int = 0
    examples: int = 0
    elapsed_s: float = 0.0
    last_loss: float = float("nan")
    stopped_by_peer: bool = False


def _batches(config: TrainConfig, stream: SyntheticStream, index: int, count: int
             ) -> Iterator[Batch]:
    for _ in range(config.train.epochs):
        yield from stream.batches(config.train.batch_size, Split.TRAIN, index, count,
                                  drop_remainder=True)


class Trainer:
    """Trains ``config``'s model as worker ``worker_index`` of ``num_workers`` against ``store``."""

    def __init__(self, config: TrainConfig, store, worker_index: int = 0, num_workers: int = 1,
                 model_dir: Path | None = None, metrics=None, controller=None, start_step: int = 0):
        self.config = config
        self.store = store
        self.index = worker_index
        self.num_workers = num_workers
        self.xp = get_array_module(config.train.device)
        self.model = CTRModel(config.model_config(), self.xp)
        self.stream = SyntheticStream(config.data)
        self.progress = ProgressLog(model_dir, worker_index)
        self.model_dir = model_dir
        self.metrics = metrics
        self.slot_names = [s.name for s in self.model.slots]
        self._stop_requested = False
        self.controller = controller
        self.start_step = start_step

    def request_stop(self) -> None:
        """Ends training after the current step (SIGTERM): pushes drain, progress is written."""
        self._stop_requested = True

    def init_dense(self) -> dict[str, np.ndarray]:
        """Dense variables on the PS, created from the seeded initial values on first use."""
        return self.store.pull_dense(self.model.init_params(self.config.train.seed))

    def _fetch(self, batch: Batch):
        """Starts the pull of the batch's rows and the dense variables (one round trip);
        the future's result is (rows, params)."""
        lookups = dedup_slots(batch, self.model.slots)
        pulled = self.store.submit("pull_with_dense",
                                   {n: lookups[n].ids for n in self.slot_names},
                                   dict.fromkeys(self.param_names), dedup=False)
        return batch, lookups, pulled

    def _compute(self, batch, lookups, rows, params):
        xp = self.xp
        rows = {n: from_host(xp, r, np.float32) for n, r in rows.items()}
        params = {n: from_host(xp, p, np.float32) for n, p in params.items()}
        result = self.model.forward_backward(batch, lookups, rows, params)
        row_grads = {n: to_host(g) for n, g in result.row_grads.items()}
        param_grads = {n: to_host(g) for n, g in result.param_grads.items()}
        if self.config.train.clip_norm > 0:
            names = list(param_grads)
            clipped, _ = clip_by_global_norm([param_grads[n] for n in names],
                                             self.config.train.clip_norm)
            param_grads = dict(zip(names, clipped))
        return result.loss, row_grads, param_grads

    def _start(self) -> None:
        """Chief initializes the dense variables and marks restore done; others wait for it,
        then (with ``wait_until_step``) for the global step to reach that value."""
        cfg = self.config.train
        if self.index == 0 or self.model_dir is None:
            self.param_names = list(self.init_dense())
            if self.model_dir is not None:
                mark_restore_done(self.model_dir)
            return
        wait_for_restore(self.model_dir)
        self.param_names = list(self.init_dense())
        if cfg.wait_until_step and self.param_names:
            step = wait_until_global_step(
                lambda: self.store.dense_update_count(self.param_names[0]), cfg.wait_until_step)
            log.info("global step reached", extra={"step": step, "index": self.index})

    def run(self) -> TrainStats:
        cfg = self.config.train
        self._start()
        stats = TrainStats(steps=self.start_step,
                           examples=self.start_step * cfg.batch_size)
        batches = itertools.islice(_batches(self.config, self.stream, self.index,
                                            self.num_workers), self.start_step, None)
        start = time.perf_counter()
        if cfg.mode is TrainMode.SYNC:
            self._run_sync(batches, stats)
        else:
            self._run_async(batches, stats)
        stats.elapsed_s = time.perf_counter() - start
        if self.controller is not None:
            self.controller.finish(stats.steps)
        self.progress.write(step=stats.steps, examples=stats.examples, loss=stats.last_loss,
                            done=True)
        return stats

    def _should_stop(self) -> bool:
        tide = self.config.train.tide
        if tide is not None and not tide.available():
            if not self._stop_requested:
                log.info("outside the tide window: stopping", extra={"tide": str(tide)})
            self._stop_requested = True
        return self._stop_requested

    def _record(self, stats: TrainStats, batch: Batch, loss: float) -> None:
        stats.steps += 1
        stats.examples += batch.labels.shape[0]
        stats.last_loss = loss
        if self.controller is not None:
            self.controller.after_step(stats.steps)
        if self.metrics is not None:
            self.metrics.steps.inc()
            self.metrics.examples.inc(batch.labels.shape[0])
            self.metrics.loss.set(loss)
        if stats.steps % self.config.train.log_every == 0:
            self.progress.write(step=stats.steps, examples=stats.examples, loss=loss)
        if self.config.train.eval_every and stats.steps % self.config.train.eval_every == 0 \
                and self.index == 0:
            result = evaluate(self.config, self.store, self.model, self.stream, self.param_names)
            if self.metrics is not None:
                self.metrics.eval_auc.set(result.auc)
            self.progress.write(step=stats.steps, examples=stats.examples, **result.as_progress())

    def _run_async(self, batches: Iterator[Batch], stats: TrainStats) -> None:
        cfg = self.config.train
        ahead: collections.deque = collections.deque()
        pushes: collections.deque = collections.deque()
        exhausted = False

        def refill():
            nonlocal exhausted
            while not exhausted and len(ahead) < max(1, cfg.prefetch):
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                    return
                ahead.append(self._fetch(batch))

        current = ()
        try:
            while (not cfg.steps or stats.steps < cfg.steps) and not self._should_stop():
                refill()
                if not ahead:
                    break
                batch, lookups, pulled = current = ahead.popleft()
                if cfg.prefetch:
                    refill()
                loss, row_grads, param_grads = self._compute(batch, lookups, *pulled.result())
                ids = {n: lookups[n].ids for n in self.slot_names}
                ts = int(batch.timestamps_s.max()) if batch.timestamps_s is not None else 0
                step = stats.steps + 1
                pushes.append(self.store.submit("push_with_dense", ids, row_grads, param_grads,
                                                timestamp_s=ts, global_step=step, dedup=False))
                while len(pushes) > cfg.push_queue:
                    pushes.popleft().result()
                self._record(stats, batch, loss)
        except BaseException:
            _settle(*current[2:], *(p[2] for p in ahead), *pushes)
            raise
        for pending in ahead:
            pending[2].result()
        while pushes:
            pushes.popleft().result()

    def _run_sync(self, batches: Iterator[Batch], stats: TrainStats) -> None:
        cfg = self.config.train
        replicas = self.num_workers
        while True:
            step = stats.steps + 1
            more = (not cfg.steps or stats.steps < cfg.steps) and not self._should_stop()
            batch = next(batches, None) if more else None
            if batch is None:
                self.store.push_sync({}, {}, step=step, replicas=replicas, end_of_data=True)
                self.store.push_dense_sync({}, step=step, replicas=replicas, end_of_data=True)
                return
            _, lookups, pulled = self._fetch(batch)
            loss, row_grads, param_grads = self._compute(batch, lookups, *pulled.result())
            ids = {n: lookups[n].ids for n in self.slot_names}
            ts = int(batch.timestamps_s.max()) if batch.timestamps_s is not None else 0
            sparse = self.store.submit("push_sync", ids, row_grads, step=step,
                                       replicas=replicas, timestamp_s=ts, dedup=False)
            dense = self.store.submit("push_dense_sync", param_grads, step=step,
                                      replicas=replicas)
            (_, stop_sparse), (_, stop_dense) = sparse.result(), dense.result()
            self._record(stats, batch, loss)
            if stop_sparse or stop_dense:
                stats.stopped_by_peer = True
                return


def _settle(*futures) -> None:
    """Waits out calls still in flight when the loop fails, so none of their errors is left
    unretrieved (the first error is the one the worker reports)."""
    for future in futures:
        try:
            future.exception(timeout=60)
        except Exception:
            pass


@dataclass(frozen=True, eq=False)
class EvalResult:
    auc: float
    logloss: float
    calibration: float
    examples: int
    scores: np.ndarray

    def as_progress(self) -> dict:
        return {"eval_auc": self.auc, "eval_logloss": self.logloss,
                "eval_calibration": self.calibration}


def predict_scores(config: TrainConfig, store, model: CTRModel, batches, param_names):
    """(labels, click probabilities) over ``batches``, with rows pulled from ``store``."""
    params = store.pull_dense({n: None for n in param_names})
    xp = model.xp
    params = {n: from_host(xp, p, np.float32) for n, p in params.items()}
    labels, probs = [], []
    for batch in batches:
        lookups = dedup_slots(batch, model.slots)
        rows = store.pull({s.name: lookups[s.name].ids for s in model.slots})
        rows = {n: from_host(xp, r, np.float32) for n, r in rows.items()}
        logits = to_host(model.predict(batch, lookups, rows, params)).astype(np.float64)
        labels.append(batch.labels)
        probs.append(1.0 / (1.0 + np.exp(-logits)))
    return np.concatenate(labels), np.concatenate(probs)


def eval_batches(config: TrainConfig, stream: SyntheticStream) -> Iterator[Batch]:
    limit = config.train.eval_examples or stream.config.num_eval_examples
    seen = 0
    for batch in stream.batches(8192, Split.EVAL):
        if seen >= limit:
            return
        batch = batch.slice_rows(0, min(batch.labels.shape[0], limit - seen))
        seen += batch.labels.shape[0]
        yield batch


def evaluate(config: TrainConfig, store, model: CTRModel, stream: SyntheticStream,
             param_names) -> EvalResult:
    from worker.model import auc, calibration, logloss

    labels, probs = predict_scores(config, store, model, eval_batches(config, stream), param_names)
    return EvalResult(auc(labels, probs), logloss(labels, probs), calibration(labels, probs),
                      int(labels.shape[0]), probs)
