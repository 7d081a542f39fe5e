"""``ps-controller``: the job's controller (barrier, saves, status) until SIGTERM."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from discovery.cli import add_discovery_args, discovery_config
from services.bootstrap import env_int
from services.controller.policy import SavePolicy
from services.security import add_security_args, security_config
from services.tide import TideWindow


def _tide(text: str | None) -> TideWindow | None:
    """``HH:MM-HH:MM`` (UTC) -> TideWindow."""
    if not text:
        return None
    try:
        start, end = text.split("-")
        (h1, m1), (h2, m2) = (map(int, part.split(":")) for part in (start, end))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HH:MM-HH:MM, got {text!r}") from None
    try:
        return TideWindow(h1, m1, h2, m2)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv=None, environ=os.environ):
    from services.controller.server import ControllerConfig

    p = argparse.ArgumentParser(prog="ps-controller", description=__doc__)
    p.add_argument("--model-dir", required=True, type=Path,
                   help="checkpoints, the checkpoint state file and controller_addr live here")
    p.add_argument("--num-ps", type=int, default=env_int("ps-controller", "MLP_PS_NUM", 1, environ))
    p.add_argument("--num-workers", type=int, default=env_int("ps-controller", "MLP_WORKER_NUM", 1, environ))
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=env_int("ps-controller", "MLP_PORT", 0, environ),
                   help="gRPC port (0: any free port; default $MLP_PORT)")
    p.add_argument("--advertise-addr", help="address registered in discovery (default host:port)")
    p.add_argument("--metrics-port", type=int, help="Prometheus scrape port")
    p.add_argument("--metrics-host", default="127.0.0.1")
    p.add_argument("--tables", dest="tables_path",
                   help="the PS table config, recorded in each checkpoint's metadata")
    saves = p.add_argument_group("checkpoints")
    saves.add_argument("--save-steps", type=int, default=0, help="save every N global steps")
    saves.add_argument("--save-secs", type=float, default=0.0, help="save every N seconds")
    saves.add_argument("--max-to-keep", type=int, default=5,
                       help="committed checkpoints kept (exempt ones aside; 0: all)")
    saves.add_argument("--keep-checkpoint-every-n-hours", type=float, default=0.0)
    saves.add_argument("--first-save", action="store_true",
                       help="also save at the starting step (default: no first save)")
    saves.add_argument("--save-retries", type=int, default=2)
    saves.add_argument("--tide", type=_tide, metavar="HH:MM-HH:MM",
                       help="UTC window of normal saves; outside it --tide-save-secs applies")
    saves.add_argument("--tide-save-secs", type=float, default=0.0)
    p.add_argument("--ps-wait-s", type=float, default=30.0,
                   help="how long a save waits for every PS to be registered")
    p.add_argument("--worker-timeout-s", type=float, default=60.0,
                   help="a worker silent this long counts as not alive")
    p.add_argument("--restore-dir", type=Path,
                   help="copy a checkpoint of this other model dir into --model-dir first "
                        "(once per model dir, whichever role comes first)")
    p.add_argument("--restore-ckpt", help="which checkpoint of --restore-dir (default: latest)")
    p.add_argument("--log-level", default="INFO")
    add_discovery_args(p)
    add_security_args(p, "both")
    args = p.parse_args(argv)
    role = environ.get("MLP_ROLE")
    if role not in (None, "", "controller"):
        p.error(f"MLP_ROLE is {role!r}; ps-controller runs the 'controller' role")
    try:
        policy = SavePolicy(
            every_steps=args.save_steps, every_secs=args.save_secs, tide=args.tide,
            tide_every_secs=args.tide_save_secs, no_first_save=not args.first_save,
            max_to_keep=args.max_to_keep,
            keep_checkpoint_every_n_hours=args.keep_checkpoint_every_n_hours,
            retries=args.save_retries)
        discovery = discovery_config(args)
        if discovery is None:
            from discovery.base import DiscoveryType
            from discovery.factory import DiscoveryConfig
            from discovery.file import FileConfig

            discovery = DiscoveryConfig(DiscoveryType.FILE, file=FileConfig(str(args.model_dir)))
        config = ControllerConfig(
            model_dir=args.model_dir, num_ps=args.num_ps, num_workers=args.num_workers,
            host=args.host, port=args.port, advertise_addr=args.advertise_addr,
            metrics_port=args.metrics_port, metrics_host=args.metrics_host, policy=policy,
            worker_timeout_s=args.worker_timeout_s, ps_wait_s=args.ps_wait_s, discovery=discovery,
            security=security_config(args, environ), tables_path=args.tables_path,
            restore_dir=args.restore_dir, restore_ckpt=args.restore_ckpt)
    except ValueError as exc:
        p.error(str(exc))
    return config, args.log_level


def main(argv=None) -> int:
    config, log_level = parse_args(argv)

    from services.bootstrap import serve_until_stopped
    from services.checkpoints import CheckpointError
    from services.logs import configure_logging

    configure_logging("controller", log_level)

    def build():
        from services.controller.server import ControllerServer

        config.model_dir.mkdir(parents=True, exist_ok=True)
        return ControllerServer(config)

    return serve_until_stopped("ps-controller", build, (OSError, ValueError, CheckpointError))


if __name__ == "__main__":
    sys.exit(main())
