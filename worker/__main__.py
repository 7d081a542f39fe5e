"""``python -m worker train``: one training worker of a cluster (worker 0 is the chief).

Told its role by ``MLP_ROLE=worker`` and ``MLP_ROLE_INDEX``; finds the PS through
discovery (by default the file backend under the model dir). The chief waits for
every worker to finish, evaluates, and writes ``<model_dir>/result.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

from discovery.cli import add_discovery_args, discovery_config
from services.files import write_text_atomic
from services.security import add_security_args, security_config

log = logging.getLogger("worker")


def _add_client_args(parser: argparse.ArgumentParser) -> None:
    """How this process calls the PS: deadline, message size, TLS and token."""
    from worker.client.aio import MAX_MESSAGE_BYTES, TIMEOUT_S

    parser.add_argument("--rpc-timeout-s", type=float, default=TIMEOUT_S,
                        help="deadline of each PS call (default %(default)s; synchronous "
                             "steps wait up to the config's sync_timeout_s)")
    parser.add_argument("--max-message-bytes", type=int, default=MAX_MESSAGE_BYTES,
                        help="largest request or reply to a PS (default %(default)s)")
    add_security_args(parser, "client")


def _client(args, addresses, **options):
    """The PSClient the flags describe."""
    from worker.client import PSClient

    return PSClient(addresses, timeout_s=args.rpc_timeout_s, security=args.security,
                    max_message_bytes=args.max_message_bytes, **options)


# Training rides out a PS restart (process start plus restore of its shard): about 30 s.
TRAIN_RETRY = dict(max_attempts=40, initial_backoff_s=0.1, max_backoff_s=1.0, jitter=0.5)


def parse_args(argv=None, environ=os.environ):
    p = argparse.ArgumentParser(prog="python -m worker", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train as one worker of a cluster")
    train.add_argument("--model-dir", required=True, type=Path)
    train.add_argument("--config", type=Path, help="training config JSON (default: built-in)")
    train.add_argument("--num-ps", type=int, default=int(environ.get("MLP_PS_NUM", "1")))
    train.add_argument("--num-workers", type=int,
                       default=int(environ.get("MLP_WORKER_NUM", "1")))
    train.add_argument("--index", type=int, default=int(environ.get("MLP_ROLE_INDEX", "0")),
                       help="this worker's index (default $MLP_ROLE_INDEX)")
    train.add_argument("--wait-timeout-s", type=float, default=1800.0,
                       help="how long to wait for the PS and, on the chief, for other workers")
    train.add_argument("--log-level", default="INFO")
    train.add_argument("--metrics-port", type=int, help="Prometheus scrape port (default: none)")
    train.add_argument("--controller-wait-s", type=float, default=0.0,
                       help="how long to wait for the controller to register (default: use it "
                            "if it is already there, else train without one)")
    train.add_argument("--metrics-host", default="127.0.0.1",
                       help="address of the metrics endpoint (default %(default)s)")
    add_discovery_args(train)
    _add_client_args(train)
    export = sub.add_parser("export", help="write a serving snapshot from a running cluster")
    export.add_argument("--model-dir", required=True, type=Path)
    export.add_argument("--config", type=Path)
    export.add_argument("--num-ps", type=int, default=int(environ.get("MLP_PS_NUM", "1")))
    export.add_argument("--out", type=Path, help="export directory (default <model-dir>/export)")
    export.add_argument("--wait-timeout-s", type=float, default=60.0)
    export.add_argument("--log-level", default="INFO")
    add_discovery_args(export)
    _add_client_args(export)
    evaluate = sub.add_parser("evaluate", help="AUC, logloss and calibration of a running cluster")
    evaluate.add_argument("--model-dir", required=True, type=Path)
    evaluate.add_argument("--config", type=Path)
    evaluate.add_argument("--num-ps", type=int, default=int(environ.get("MLP_PS_NUM", "1")))
    evaluate.add_argument("--wait-timeout-s", type=float, default=60.0)
    evaluate.add_argument("--log-level", default="INFO")
    add_discovery_args(evaluate)
    _add_client_args(evaluate)
    predict = sub.add_parser("predict", help="score the eval split from an export")
    predict.add_argument("--export", required=True, type=Path)
    predict.add_argument("--out", required=True, type=Path, help="scores file (.npy)")
    predict.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    args.index = getattr(args, "index", 0)
    try:  # predict reaches no PS: it takes no security flags
        args.security = security_config(args, environ) if hasattr(args, "security_role") else None
    except ValueError as exc:
        p.error(str(exc))
    if getattr(args, "rpc_timeout_s", 1.0) <= 0:
        p.error(f"--rpc-timeout-s must be > 0, got {args.rpc_timeout_s}")
    if getattr(args, "max_message_bytes", 1) < 1:
        p.error(f"--max-message-bytes must be >= 1, got {args.max_message_bytes}")
    if args.command != "train":
        if args.command in ("export", "evaluate") and args.discovery is None:
            args.discovery, args.discovery_dir = "file", str(args.model_dir)
        return args
    if environ.get("MLP_ROLE") not in (None, "", "worker"):
        p.error(f"MLP_ROLE is {environ['MLP_ROLE']!r}; this process runs the 'worker' role")
    if not 0 <= args.index < args.num_workers:
        p.error(f"--index must be in 0..{args.num_workers - 1}, got {args.index}")
    if args.num_ps < 1:
        p.error(f"--num-ps must be >= 1, got {args.num_ps}")
    if args.discovery is None:
        args.discovery, args.discovery_dir = "file", str(args.model_dir)
    return args


def _wait_for_peers(model_dir: Path, num_workers: int, timeout_s: float) -> None:
    """The chief waits until every worker logged its last step (seed's sync_hooks)."""
    deadline = time.monotonic() + timeout_s
    pending = set(range(1, num_workers))
    while pending:
        for i in sorted(pending):
            path = model_dir / "progress" / f"worker-{i}.jsonl"
            if path.exists() and '"done": true' in path.read_text():
                pending.discard(i)
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"workers {sorted(pending)} did not finish within {timeout_s} s")
        if pending:
            time.sleep(0.2)


def train(args) -> int:
    from discovery.cluster import wait_for_ps
    from discovery.factory import create_discovery
    from discovery.net import concat_ip_and_port, get_local_ip
    from worker.config import TrainConfig
    from worker.model import FrequencyBaseline, bayes_optimal_auc
    from worker.train import Trainer, evaluate

    config = TrainConfig.load(args.config)
    args.model_dir.mkdir(parents=True, exist_ok=True)
    with create_discovery(discovery_config(args)) as discovery:
        addresses = wait_for_ps(discovery, args.num_ps, timeout_s=args.wait_timeout_s,
                                poll_interval_s=0.1)
        host = get_local_ip()
        port, reserved = os.environ.get("MLP_PORT"), None
        if not port:  # a port of our own keeps replicas' addresses distinct in discovery
            reserved = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            reserved.bind((host, 0))
            port = reserved.getsockname()[1]
        me = concat_ip_and_port(host, port)
        discovery.register("worker", args.index, me)
        log.info("found ps", extra={"ps": addresses, "index": args.index})
        metrics = None
        if args.metrics_port is not None:
            from prometheus_client import CollectorRegistry

            from services.metrics import serve_metrics
            from worker.metrics import WorkerMetrics

            registry = CollectorRegistry()
            metrics = WorkerMetrics(registry, args.index)
            serve_metrics(registry, args.metrics_port, args.metrics_host)
        from services.retry import RetryPolicy
        from worker.config import TrainMode
        from worker.controller_link import ControllerLink, find_controller

        controller, start_step = None, 0
        controller_addr = find_controller(discovery, args.model_dir, args.controller_wait_s)
        if controller_addr is not None:
            controller = ControllerLink(controller_addr, args.index,
                                        config.train.mode is TrainMode.SYNC, args.security)
            start_step = controller.resume_step()
            log.info("controller found", extra={"controller": controller_addr,
                                                 "start_step": start_step})
        try:
            with _client(args, addresses, retry=RetryPolicy(**TRAIN_RETRY)) as client:
                trainer = Trainer(config, client, args.index, args.num_workers, args.model_dir,
                                  metrics, controller, start_step)
                signal.signal(signal.SIGTERM, lambda *_: trainer.request_stop())
                stats = trainer.run()
                log.info("trained", extra={"steps": stats.steps, "examples": stats.examples,
                                           "elapsed_s": round(stats.elapsed_s, 3)})
                if args.index != 0:
                    return 0
                _wait_for_peers(args.model_dir, args.num_workers, args.wait_timeout_s)
                result = evaluate(config, client, trainer.model, trainer.stream,
                                  trainer.param_names)
        finally:
            if controller is not None:
                controller.close()
            discovery.deregister("worker", args.index, me)
            if reserved is not None:
                reserved.close()
    bayes = bayes_optimal_auc(trainer.stream)
    baseline = FrequencyBaseline().fit(trainer.stream.blocks())
    import numpy as np

    from worker.model import auc
    from worker.train import eval_batches

    np.save(args.model_dir / "eval_scores.npy", result.scores)
    labels, scores = [], []
    for batch in eval_batches(config, trainer.stream):
        labels.append(batch.labels)
        scores.append(baseline.predict(batch))

    baseline_auc = auc(np.concatenate(labels), np.concatenate(scores))
    progress = [json.loads(line) for f in sorted((args.model_dir / "progress").glob("*.jsonl"))
                for line in f.read_text().splitlines() if line.strip()]
    done = [r for r in progress if r.get("done")]
    summary = {
        "steps": sum(r["step"] for r in done), "examples": sum(r["examples"] for r in done),
        "elapsed_s": stats.elapsed_s, "eval_auc": result.auc, "eval_logloss": result.logloss,
        "calibration": result.calibration, "bayes_auc": bayes, "baseline_auc": baseline_auc,
        "mode": config.train.mode.value, "eval_examples": result.examples,
    }
    trainer.progress.write(step=stats.steps, examples=stats.examples, **result.as_progress())
    write_text_atomic(args.model_dir / "result.json", json.dumps(summary, indent=2))
    log.info("evaluated", extra=summary)
    return 0


def _ps_addresses(args) -> list[str]:
    from discovery.cluster import wait_for_ps
    from discovery.factory import create_discovery

    with create_discovery(discovery_config(args)) as discovery:
        return wait_for_ps(discovery, args.num_ps, timeout_s=args.wait_timeout_s,
                           poll_interval_s=0.1)


def export(args) -> int:
    from worker.config import TrainConfig
    from worker.export import export_snapshot
    from worker.model import CTRModel

    config = TrainConfig.load(args.config)
    out = args.out or args.model_dir / "export"
    names = list(CTRModel(config.model_config()).param_shapes())
    with _client(args, _ps_addresses(args)) as client:
        counts = export_snapshot(client, config, names, out)
    print(f"exported {sum(counts.values())} rows of {len(counts)} tables and "
          f"{len(names)} dense variables to {out}")
    return 0


def evaluate_cluster(args) -> int:
    from worker.config import TrainConfig
    from worker.data import SyntheticStream
    from worker.model import CTRModel
    from worker.train import evaluate

    config = TrainConfig.load(args.config)
    model = CTRModel(config.model_config())
    with _client(args, _ps_addresses(args)) as client:
        result = evaluate(config, client, model, SyntheticStream(config.data),
                          list(model.param_shapes()))
    print(json.dumps({"eval_auc": result.auc, "eval_logloss": result.logloss,
                      "calibration": result.calibration, "examples": result.examples}))
    return 0


def predict(args) -> int:
    import numpy as np

    from worker.data import SyntheticStream
    from worker.export import ExportStore
    from worker.model import CTRModel, get_array_module
    from worker.train import eval_batches, predict_scores

    store = ExportStore(args.export)
    config = store.config
    model = CTRModel(config.model_config(), get_array_module(config.train.device))
    stream = SyntheticStream(config.data)
    _, scores = predict_scores(config, store, model, eval_batches(config, stream),
                               list(model.param_shapes()))
    np.save(args.out, scores)
    print(f"wrote {scores.shape[0]} scores to {args.out}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    from services.logs import configure_logging
    from services.signals import add_stack_dump_handler

    configure_logging(f"worker-{args.index}", args.log_level)
    add_stack_dump_handler()
    try:
        commands = {"train": train, "export": export, "evaluate": evaluate_cluster,
                    "predict": predict}
        return commands[args.command](args)
    except Exception as exc:
        log.exception("worker %d failed", args.index)
        print(f"worker {args.index}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
