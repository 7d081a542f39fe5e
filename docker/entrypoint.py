#!/usr/bin/env python3
"""PID 1 of the monolith-ps image: runs one role, forwards signals to it, reaps orphans.

    monolith-ps-entrypoint ROLE [ARGS...]     ROLE: ps, controller or worker
    monolith-ps-entrypoint [ARGS...]          role from $MLP_ROLE
    monolith-ps-entrypoint COMMAND [ARGS...]  any other command (ps-ctl, python, sh)

A process that is PID 1 gets no default signal actions, so a role that has not yet
installed its SIGTERM handler would ignore ``docker stop`` until the kill timeout.
Here SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 go to the role's process;
when a stop signal (SIGTERM, SIGINT) ends it, the container exits 0. Otherwise the
exit code is the role's (128 + N if signal N killed it).

The role's process gets ``MLP_ROLE``; an Indexed Job's ``JOB_COMPLETION_INDEX``
becomes ``MLP_ROLE_INDEX`` unless that is set. ``$MONOLITH_PS_RUN_DIR/entry.json``
records the role, its PID and its gRPC address for ``monolith-ps-health``.
Standard library only, so it starts in milliseconds and cannot break with the package.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

ROLES: dict[str, tuple[str, ...]] = {
    "ps": ("ps-server",),
    "controller": ("ps-controller",),
    "worker": ("python3", "-m", "worker", "train"),
}
#: Roles that serve gRPC (and so the standard health service).
GRPC_ROLES = ("ps", "controller")
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGUSR2)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
USAGE = ("usage: monolith-ps-entrypoint {ps,controller,worker} [ARGS...] | [ARGS...] "
         "with MLP_ROLE set | COMMAND [ARGS...]")


class UsageError(Exception):
    """Bad command line or environment; the message is the one line to print."""


def resolve(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[str | None, list[str],
                                                                       dict[str, str]]:
    """(role or None, the command to run, its environment) for ``argv`` without argv[0]."""
    env = dict(environ)
    if argv and argv[0] in ROLES:
        role, args = argv[0], list(argv[1:])
    elif not argv or argv[0].startswith("-"):
        role, args = env.get("MLP_ROLE", "").strip().lower(), list(argv)
        if not role:
            raise UsageError(f"no role given and MLP_ROLE is not set\n{USAGE}")
        if role not in ROLES:
            raise UsageError(f"MLP_ROLE must be one of {', '.join(ROLES)}, got {role!r}")
    else:
        return None, list(argv), env
    env["MLP_ROLE"] = role
    if not env.get("MLP_ROLE_INDEX") and env.get("JOB_COMPLETION_INDEX"):
        env["MLP_ROLE_INDEX"] = env["JOB_COMPLETION_INDEX"]
    return role, [*ROLES[role], *args], env


def flag_value(args: Sequence[str], flag: str) -> str | None:
    """The last value of ``--flag V`` or ``--flag=V`` in ``args`` (None when absent)."""
    value = None
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(flag + "="):
            value = arg[len(flag) + 1:]
    return value


def grpc_address(role: str | None, args: Sequence[str], env: Mapping[str, str]) -> str | None:
    """Where this container's gRPC health service answers, seen from inside it."""
    if role not in GRPC_ROLES:
        return None
    port = flag_value(args, "--port") or env.get("MLP_PORT")
    if not port or not port.isdigit() or int(port) == 0:
        return None
    host = flag_value(args, "--host") or "127.0.0.1"
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def write_state(run_dir: str, state: dict) -> None:
    """Atomic write of ``<run_dir>/entry.json``; a read-only filesystem only loses the health data."""
    try:
        os.makedirs(run_dir, exist_ok=True)
        tmp = os.path.join(run_dir, f".entry.json.{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(tmp, os.path.join(run_dir, "entry.json"))
    except OSError as exc:
        print(f"monolith-ps-entrypoint: warning: cannot write {run_dir}/entry.json: {exc}",
              file=sys.stderr)


def supervise(command: list[str], env: dict[str, str], run_dir: str, role: str | None) -> int:
    """Runs ``command`` until it exits; returns the container's exit code."""
    stop_requested: list[int] = []
    child: subprocess.Popen | None = None

    def forward(signum, _frame):
        if signum in STOP_SIGNALS:
            stop_requested.append(signum)
        if child is not None and child.returncode is None:
            try:
                os.kill(child.pid, signum)
            except ProcessLookupError:
                pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    try:
        child = subprocess.Popen(command, env=env)
    except OSError as exc:
        print(f"monolith-ps-entrypoint: cannot run {command[0]}: {exc.strerror or exc}",
              file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    if stop_requested:  # a stop signal arrived while the child was being started
        os.kill(child.pid, stop_requested[0])
    write_state(run_dir, {"role": role, "pid": child.pid,
                          "grpc_address": grpc_address(role, command, env)})
    while True:
        try:
            pid, status = os.waitpid(-1, 0)  # also reaps orphans reparented to PID 1
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child.pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            break
    code = child.returncode
    if code is None:
        code = child.wait()
    if code < 0:
        return 0 if stop_requested and -code in STOP_SIGNALS else 128 - code
    if code in (128 + signal.SIGTERM, 128 + signal.SIGINT) and stop_requested:
        return 0
    return code


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    try:
        role, command, env = resolve(argv, environ)
    except UsageError as exc:
        if list(argv) in (["-h"], ["--help"]):  # no role to pass --help on to: our own usage
            print(__doc__.split("\n\n")[1])
            return 0
        print(f"monolith-ps-entrypoint: {exc}", file=sys.stderr)
        return 2
    if not command:
        print(f"monolith-ps-entrypoint: nothing to run\n{USAGE}", file=sys.stderr)
        return 2
    return supervise(command, env, env.get("MONOLITH_PS_RUN_DIR", "/tmp/monolith-ps"), role)


if __name__ == "__main__":
    sys.exit(main())
