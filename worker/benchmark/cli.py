"""Flags of ``ps-benchmark run | sweep | select`` and their conversion into configs.

Strings become enums and tuples here, once. A usage error raises ``UsageError``
(one line, exit status 2); configs raise ValueError, which is a usage error too.
"""

from __future__ import annotations

import argparse

from ps_server.config import OptimizerKind, PullDType
from services.security import add_security_args, security_config
from worker.benchmark.config import (
    BASELINES,
    Backend,
    GridMode,
    LocalPS,
    RunConfig,
    SweepConfig,
    WorkloadConfig,
    check_address,
)
from worker.benchmark.select import BenchmarkConfig, MeasureSettings


class UsageError(Exception):
    """Bad flags: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def _csv(kind, what: str):
    def parse(text: str) -> tuple:
        items = [t.strip() for t in text.split(",")] if text.strip() else []
        try:
            return tuple(kind(t) for t in items)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {what}, got {text!r}") from None
    return parse


def _backend(text: str) -> Backend:
    try:
        backend = Backend(text)
    except ValueError:
        backend = None
    if backend not in BASELINES:
        raise ValueError(text)
    return backend


def _delay(text: str) -> tuple[str, float]:
    address, sep, ms = text.rpartition("=")
    try:
        return address, float(ms) / 1e3 if sep else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected host:port=milliseconds, got {text!r}") from None


def _add_workload(p: argparse.ArgumentParser, batch_size: int) -> None:
    w = WorkloadConfig
    p.add_argument("--batch-size", type=int, default=batch_size,
                   help="distinct ids per table per request (default %(default)s)")
    p.add_argument("--tables", type=int, default=w.tables,
                   help="tables per request (default %(default)s)")
    p.add_argument("--vocab", type=int, default=w.vocab,
                   help="ids the stream draws from (default %(default)s)")
    p.add_argument("--zipf", type=float, default=w.zipf,
                   help="Zipf skew of the id stream, 0 = uniform (default %(default)s)")
    p.add_argument("--seed", type=int, default=w.seed, help="seed of the id stream")
    p.add_argument("--in-flight", type=int, default=RunConfig.in_flight,
                   help="requests in flight per client process (default %(default)s)")


def _add_run_flags(p: argparse.ArgumentParser, attach: bool, baselines: tuple[Backend, ...]):
    if attach:
        p.add_argument("--ps", type=_csv(str, "host:port addresses"), default=(),
                       help="attach to these running PS (shard i at the i-th) instead of "
                            "starting PS processes")
    p.add_argument("--num-ps", type=int, default=None,
                   help=f"PS processes to start (default {LocalPS.num_ps})")
    p.add_argument("--dim", type=int, default=None,
                   help=f"embedding dim of the started PS's tables (default {LocalPS.dim})")
    p.add_argument("--optimizer", choices=[k.value for k in OptimizerKind if not k.dense_only],
                   default=None,
                   help=f"optimizer of the started PS's tables (default {LocalPS.optimizer.value})")
    p.add_argument("--fp16", action="store_true", default=None,
                   help="the started PS's tables pull float16 rows")
    _add_workload(p, WorkloadConfig.batch_size)
    p.add_argument("--clients", type=int, default=RunConfig.clients,
                   help="client processes (default %(default)s)")
    p.add_argument("--seconds", type=float, default=RunConfig.seconds,
                   help="measuring seconds of the whole run, split evenly over the PS's and "
                        "the baselines' pulls and pushes (default %(default)s)")
    p.add_argument("--baselines", type=_csv(_backend, "names out of " + ", ".join(
                       b.value for b in BASELINES)),
                   default=baselines,
                   help="baselines to measure beside the PS, comma-separated, '' for none "
                        f"(default {','.join(b.value for b in baselines)})")
    p.add_argument("--json", dest="json_path", help="write every figure to this JSON file")
    p.add_argument("--plot", dest="plot_path", help="draw a PNG chart to this file")
    if attach:
        add_security_args(p, "client")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ps-benchmark", description="Measure parameter-server throughput "
                "against transport and Redis baselines; pick the fastest PS hosts.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="measure Pull and Push beside their baselines")
    _add_run_flags(run, attach=True, baselines=BASELINES)
    sweep = sub.add_parser("sweep", help="run over a grid of batch sizes, dims and PS counts")
    _add_run_flags(sweep, attach=False, baselines=(Backend.TRANSFER,))
    s = SweepConfig
    sweep.add_argument("--grid-batch-size", type=_csv(int, "integers"),
                       default=s.batch_sizes, help="batch sizes of the grid")
    sweep.add_argument("--grid-dim", type=_csv(int, "integers"), default=s.dims,
                       help="dims of the grid")
    sweep.add_argument("--grid-num-ps", type=_csv(int, "integers"), default=s.num_ps,
                       help="numbers of PS of the grid")
    sweep.add_argument("--grid-mode", choices=[m.value for m in GridMode], default=s.mode.value,
                       help="axes: one axis at a time around the base point; full: product")
    select = sub.add_parser("select", help="measure each PS and keep the fastest (Monolith)")
    select.add_argument("--ps", type=_csv(str, "host:port addresses"), default=(),
                        help="PS to choose from, comma-separated")
    select.add_argument("--num-ps-required", type=int, required=True)
    select.add_argument("--num-workers", type=int, default=1)
    select.add_argument("--index", type=int, default=0, help="this worker's index (0: chief)")
    select.add_argument("--benchmark-secs", type=float, default=BenchmarkConfig.benchmark_secs)
    select.add_argument("--ps-str-overridden", default="",
                        help="skip the benchmark and answer this comma-separated list")
    select.add_argument("--out", help="write the selected list here (atomically); workers "
                                      "other than 0 wait for the chief's file")
    select.add_argument("--wait-s", type=float, default=3600.0,
                        help="how long a non-chief worker waits for --out")
    _add_workload(select, MeasureSettings.workload.batch_size)
    add_security_args(select, "client")
    select.add_argument("--delay-ms", type=_delay, action="append", default=[],
                        help=argparse.SUPPRESS)
    return p


def _local(args) -> LocalPS:
    d = LocalPS
    return LocalPS(
        num_ps=d.num_ps if args.num_ps is None else args.num_ps,
        dim=d.dim if args.dim is None else args.dim,
        optimizer=d.optimizer if args.optimizer is None else OptimizerKind(args.optimizer),
        pull_dtype=PullDType.FP16 if args.fp16 else PullDType.FP32,
        tables=args.tables)


def _workload(args) -> WorkloadConfig:
    return WorkloadConfig(batch_size=args.batch_size, tables=args.tables, vocab=args.vocab,
                          zipf=args.zipf, seed=args.seed)


def run_config(args) -> RunConfig:
    ps = getattr(args, "ps", ())
    if ps:
        for flag in ("num_ps", "dim", "optimizer", "fp16"):
            if getattr(args, flag) is not None:
                raise UsageError(f"ps-benchmark run: --{flag.replace('_', '-')} sets up PS "
                                 "processes this benchmark starts; it cannot go with --ps")
    return RunConfig(workload=_workload(args), local=None if ps else _local(args), ps=ps,
                     clients=args.clients, in_flight=args.in_flight, seconds=args.seconds,
                     baselines=args.baselines, security=security_config(args))


def sweep_config(args) -> SweepConfig:
    return SweepConfig(base=run_config(args), batch_sizes=args.grid_batch_size,
                       dims=args.grid_dim, num_ps=args.grid_num_ps,
                       mode=GridMode(args.grid_mode))


def select_configs(args) -> tuple[BenchmarkConfig, MeasureSettings]:
    if args.index != 0 and not args.ps_str_overridden and not args.out:
        raise UsageError("ps-benchmark select: a worker other than 0 needs --out, "
                         "where the chief publishes its choice")
    if not args.ps_str_overridden:
        for address in args.ps:
            check_address(address)
    config = BenchmarkConfig(ps_list=args.ps, num_ps_required=args.num_ps_required,
                             num_workers=args.num_workers, index=args.index,
                             benchmark_secs=args.benchmark_secs,
                             ps_str_overridden=args.ps_str_overridden)
    settings = MeasureSettings(workload=_workload(args), in_flight=args.in_flight,
                               delays_s=tuple(args.delay_ms), security=security_config(args))
    return config, settings
