"""``ps-cluster``: run a training cluster; ``ps-cluster local`` runs every role on this machine."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from discovery.cli import add_discovery_args, discovery_argv, discovery_config
from services.launcher.config import LocalClusterConfig
from services.security import add_security_args, security_config

EXIT_FAILURE = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with the project's CLI contract: one stderr line and exit 2 on a usage error."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ps-cluster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    local = commands.add_parser(
        "local", help="start ps and worker processes here and train until the workers finish",
        description="Start one process per role on this machine (file discovery under the "
                    "model dir), show progress, stop them all at the end or on any failure.")
    local.add_argument("--num-ps", type=int, required=True, metavar="N", help="number of ps shards")
    local.add_argument("--num-workers", type=int, required=True, metavar="N",
                       help="number of workers (worker 0 is the chief)")
    local.add_argument("--model-dir", type=Path, required=True, metavar="DIR",
                       help="directory for configs, discovery entries, logs and results")
    local.add_argument("--config", dest="config_path", type=Path, metavar="FILE",
                       help="training config JSON (default: the reference config)")
    local.add_argument("--tables", dest="tables_path", type=Path, metavar="FILE",
                       help="ps table configs JSON (default: derived from the training config)")
    local.add_argument("--base-port", type=int,
                       help="ps i listens on BASE_PORT+i (default: free loopback ports)")
    local.add_argument("--metrics-base-port", type=int,
                       help="ps i exports Prometheus metrics on METRICS_BASE_PORT+i")
    local.add_argument("--ready-timeout-s", type=float, default=LocalClusterConfig.ready_timeout_s,
                       help="seconds every ps gets to register and serve")
    local.add_argument("--grace-s", type=float, default=LocalClusterConfig.grace_s,
                       help="seconds between SIGTERM and SIGKILL when stopping a process")
    local.add_argument("--timeout-s", type=float,
                       help="wall-clock limit of the whole run (default: none)")
    local.add_argument("--ps-module", default=LocalClusterConfig.ps_module,
                       help="python module run for each ps (python -m MODULE)")
    local.add_argument("--worker-module", default=LocalClusterConfig.worker_module,
                       help="python module run for each worker (python -m MODULE train ...)")
    saves = local.add_argument_group("checkpoints and recovery")
    saves.add_argument("--save-steps", type=int, default=0, metavar="N",
                       help="the controller saves every N global steps (default: only at the end)")
    saves.add_argument("--save-secs", type=float, default=0.0, metavar="S",
                       help="the controller saves every S seconds")
    saves.add_argument("--max-to-keep", type=int, default=LocalClusterConfig.max_to_keep,
                       help="committed checkpoints kept (0: all)")
    saves.add_argument("--max-restarts", type=int, default=LocalClusterConfig.max_restarts,
                       help="times a process that dies is restarted before the run fails")
    saves.add_argument("--restore-dir", type=Path, metavar="DIR",
                       help="start from a checkpoint of another model dir (copied once)")
    saves.add_argument("--restore-ckpt", metavar="NAME",
                       help="which checkpoint of --restore-dir (default: its latest)")
    add_discovery_args(local)
    add_security_args(local, "both")
    return parser


def parse_args(argv: list[str] | None = None) -> LocalClusterConfig:
    parser = build_parser()
    namespace = parser.parse_args(argv)
    try:
        discovery_config(namespace)
        security = security_config(namespace)
    except ValueError as exc:
        parser.error(str(exc))
    flags = tuple(discovery_argv(namespace))
    args = {k: v for k, v in vars(namespace).items()
            if k in LocalClusterConfig.__dataclass_fields__}
    args["discovery_argv"] = flags
    args["security"] = security
    try:
        return LocalClusterConfig(**args)
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)

    from services.launcher.cluster import LocalCluster
    from services.launcher.modeldir import ClusterError, UsageError

    try:
        return LocalCluster(config).run()
    except UsageError as exc:
        print(f"ps-cluster: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ClusterError, OSError) as exc:
        print(f"ps-cluster: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("ps-cluster: interrupted before any process started", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
