"""Runs one local cluster to its end: PS first, workers once every PS serves, then the report.

Every process gets its role from ``MLP_ROLE``, ``MLP_ROLE_INDEX`` (and a PS its
port from ``MLP_PORT``) and finds the others through file discovery under the
model dir. Any failure, timeout or stop signal stops every process started.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TextIO

import grpc

from discovery.cli import add_discovery_args, discovery_config
from discovery.factory import create_discovery
from services import checkpoints
from services.files import write_text_atomic
from services.health import is_serving
from services.launcher import modeldir
from services.launcher.config import LocalClusterConfig
from services.launcher.modeldir import ClusterError
from services.launcher.progress import ProgressBar
from services.launcher.records import ProgressReader, TrainingResult, total_steps
from services.launcher.summary import RunFacts, format_logs, format_summary, write_plot
from services.launcher.supervisor import Child, Supervisor
from services.security import SecurityConfig, security_argv, sync_channel

IMPORT_ROOT = Path(__file__).resolve().parents[2]
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_HEALTH_TIMEOUT_S = 1.0
_FINAL_SAVE_WAIT_S = 300.0
_CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100),
                    ("grpc.max_reconnect_backoff_ms", 1000)]


class LocalCluster:
    """One run of ``ps-cluster local``; ``run()`` returns the launcher's exit code."""

    def __init__(self, config: LocalClusterConfig, out: TextIO | None = None,
                 err: TextIO | None = None):
        self.config = config
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.supervisor: Supervisor | None = None

    def run(self) -> int:
        """Raises ``UsageError`` for bad input files, ``ClusterError`` if the dir is in use."""
        cfg = self.config
        lock_fd = modeldir.lock_model_dir(cfg.model_dir)
        try:
            modeldir.clear_stale(cfg.model_dir)
            modeldir.write_train_config(cfg)
            modeldir.write_tables(cfg)
            bar = ProgressBar(total_steps(cfg.train_config_file, cfg.num_workers), self.err)
            try:
                with Supervisor(cfg.grace_s, cfg.poll_interval_s) as supervisor:
                    self.supervisor = supervisor
                    return self._run(supervisor, bar)
            except ClusterError as exc:
                bar.close()
                for line in str(exc).splitlines():
                    print(f"ps-cluster: {line}", file=self.err)
                print("\n".join(format_logs(self._logs())), file=self.err)
                return 1
        finally:
            os.close(lock_fd)

    def _run(self, supervisor: Supervisor, bar: ProgressBar) -> int:
        cfg = self.config
        start = time.monotonic()
        deadline = start + cfg.timeout_s if cfg.timeout_s else None
        self._restore_from_elsewhere()
        controller = self._start_controller()
        ps = [self._start_ps(i) for i in range(cfg.num_ps)]
        bar.status(f"waiting for {cfg.num_ps} ps and the controller to serve ...")
        limit_s = min(cfg.ready_timeout_s, cfg.timeout_s or cfg.ready_timeout_s)
        addrs = self._wait_ps_ready(ps, start + limit_s, limit_s)
        if addrs is None or not self._wait_controller(controller, start + limit_s, limit_s):
            return self._interrupted(bar, start, None)
        workers = [self._start_worker(i) for i in range(cfg.num_workers)]
        bar.close()
        print(f"ps-cluster: {cfg.num_ps} ps serving at {', '.join(addrs)}; controller at "
              f"{controller.address}; {cfg.num_workers} workers started; logs in {cfg.log_dir}",
              file=self.out, flush=True)
        reader = ProgressReader(cfg.progress_dir)
        while True:
            if supervisor.stop_signal is not None:
                return self._interrupted(bar, start, reader)
            codes = [w.poll() for w in workers]
            if all(code == 0 for code in codes):
                break
            for child in workers + ps + [controller]:
                code = child.poll()
                if code is not None and (code != 0 or child.role != "worker"):
                    self._recover(child, bar)
            if deadline is not None and time.monotonic() > deadline:
                raise ClusterError(f"training did not finish within {cfg.timeout_s:g} s")
            bar.update(reader.poll())
            supervisor.sleep()
        bar.update(reader.poll(), force=True)
        bar.close()
        self._final_checkpoint(controller)
        self._stop_ps(ps + [controller])
        self._report(reader, time.monotonic() - start, "finished")
        return 0

    def _recover(self, child: Child, bar: ProgressBar) -> None:
        """Restarts a process that was killed (a crash, the OOM killer, kill -9): a PS restores
        its own shard from the latest checkpoint, a worker rejoins at its last reported step.
        A process that exited on its own, or died too often, fails the run, and so does the
        controller: the workers' step counts it holds are not in any checkpoint."""
        cfg = self.config
        code = child.poll()
        when = " while workers were training" if child.role != "worker" else ""
        if (code is None or code >= 0 or child.restarts >= cfg.max_restarts
                or child.role == "controller"):
            raise ClusterError(_exit_message(child, when))
        bar.close()
        print(f"ps-cluster: {_exit_message(child, when)}; restarting it "
              f"({child.restarts + 1} of {cfg.max_restarts})", file=self.err, flush=True)
        self.supervisor.restart(child)
        self._write_manifest()

    def _restore_from_elsewhere(self) -> None:
        cfg = self.config
        if cfg.restore_dir is None:
            return
        try:
            copied = checkpoints.restore_once(cfg.model_dir, cfg.restore_dir, cfg.restore_ckpt)
        except checkpoints.CheckpointError as exc:
            raise ClusterError(str(exc)) from None
        if copied is not None:
            print(f"ps-cluster: starting from {copied.name} of {cfg.restore_dir}", file=self.out)

    def _start_controller(self) -> Child:
        cfg = self.config
        port = _free_port()
        argv = [sys.executable, "-m", cfg.controller_module, "--model-dir", str(cfg.model_dir),
                "--num-ps", str(cfg.num_ps), "--num-workers", str(cfg.num_workers),
                "--tables", str(cfg.tables_file), "--save-steps", str(cfg.save_steps),
                "--save-secs", str(cfg.save_secs), "--max-to-keep", str(cfg.max_to_keep),
                *self._discovery_argv(), *security_argv(cfg.security, "both")]
        child = self._start("controller", 0, argv, self._env("controller", 0, MLP_PORT=str(port)))
        child.address = f"127.0.0.1:{port}"
        return child

    def _wait_controller(self, controller: Child, deadline: float, limit_s: float) -> bool:
        channels: dict[str, grpc.Channel] = {}
        try:
            while not _serving(channels, controller.address, self.config.security):
                if self.supervisor.stop_signal is not None:
                    return False
                if controller.poll() is not None:
                    raise ClusterError(_exit_message(controller, " before serving"))
                if time.monotonic() > deadline:
                    raise ClusterError(f"the controller did not serve within {limit_s:g} s "
                                       f"(see {controller.log_path})")
                self.supervisor.sleep()
        finally:
            for channel in channels.values():
                channel.close()
        return True

    def _final_checkpoint(self, controller: Child) -> None:
        """Makes sure the end of training is checkpointed: once every worker that reported
        has reported finished, asks the controller to save (a save of a step already
        committed returns at once; one still running is waited for)."""
        from services.pb import controller_pb2 as cpb
        from services.pb import controller_pb2_grpc

        with sync_channel(controller.address, self.config.security) as channel:
            stub = controller_pb2_grpc.ControllerStub(channel)
            deadline = time.monotonic() + _FINAL_SAVE_WAIT_S
            try:
                while True:
                    status = stub.GetTrainingStatus(cpb.GetTrainingStatusRequest(), timeout=10)
                    if all(w.finished or w.seconds_since_report < 0 for w in status.workers):
                        break
                    if time.monotonic() > deadline:
                        raise ClusterError("workers exited without reporting they finished")
                    self.supervisor.sleep()
                while True:
                    try:
                        reply = stub.SaveCheckpoint(cpb.SaveCheckpointRequest(),
                                                    timeout=_FINAL_SAVE_WAIT_S)
                        break
                    except grpc.RpcError as exc:
                        busy = exc.code() == grpc.StatusCode.FAILED_PRECONDITION \
                            and "already running" in (exc.details() or "")
                        if not busy or time.monotonic() > deadline:
                            raise
                        self.supervisor.sleep()
                print(f"ps-cluster: checkpoint {reply.path} committed at step {reply.step}",
                      file=self.out)
            except grpc.RpcError as exc:
                print(f"ps-cluster: warning: no final checkpoint: {exc.code().name}: "
                      f"{exc.details()}", file=self.err)

    def _start_ps(self, index: int) -> Child:
        cfg = self.config
        port = cfg.base_port + index if cfg.base_port is not None else _free_port()
        argv = [sys.executable, "-m", cfg.ps_module, "--tables", str(cfg.tables_file),
                *self._discovery_argv(), "--num-shards", str(cfg.num_ps),
                "--model-dir", str(cfg.model_dir),
                *security_argv(cfg.security, "server")]
        if cfg.metrics_base_port is not None:
            argv += ["--metrics-port", str(cfg.metrics_base_port + index)]
        env = self._env("ps", index, MLP_PORT=str(port))
        return self._start("ps", index, argv, env)

    def _start_worker(self, index: int) -> Child:
        cfg = self.config
        argv = [sys.executable, "-m", cfg.worker_module, "train",
                "--model-dir", str(cfg.model_dir), "--config", str(cfg.train_config_file),
                "--num-ps", str(cfg.num_ps), "--num-workers", str(cfg.num_workers),
                *self._discovery_argv(), *security_argv(cfg.security, "client")]
        env = self._env("worker", index, **dict.fromkeys(_ONE_THREAD, "1"))
        return self._start("worker", index, argv, env)

    def _discovery_argv(self) -> list[str]:
        return list(self.config.discovery_argv) or [
            "--discovery", "file", "--discovery-dir", str(self.config.model_dir)]

    def _start(self, role: str, index: int, argv: list[str], env: dict[str, str]) -> Child:
        child = self.supervisor.start(role, index, argv, env=env,
                                      log_path=self.config.log_dir / f"{role}-{index}.log")
        self._write_manifest()
        return child

    def _write_manifest(self) -> None:
        write_text_atomic(self.config.model_dir / "cluster.json", json.dumps(
            {"launcher_pid": os.getpid(), "processes": self.supervisor.manifest()}, indent=2))

    def _env(self, role: str, index: int, **extra: str) -> dict[str, str]:
        """The launcher's env without inherited ``MLP_*``, plus this process's role and settings.

        The import root goes first on PYTHONPATH so children run the launcher's code.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLP_")}
        path = [str(IMPORT_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env.update(PYTHONPATH=os.pathsep.join(path), PYTHONUNBUFFERED="1",
                   MLP_ROLE=role, MLP_ROLE_INDEX=str(index), **extra)
        return env

    def _wait_ps_ready(self, ps: list[Child], deadline: float,
                       limit_s: float) -> list[str] | None:
        """Addresses of PS 0..N-1 once each is registered and SERVING; None on a stop signal."""
        parser = argparse.ArgumentParser()
        add_discovery_args(parser)
        discovery = create_discovery(discovery_config(parser.parse_args(self._discovery_argv())))
        ready: dict[int, str] = {}
        channels: dict[str, grpc.Channel] = {}
        try:
            while len(ready) < len(ps):
                if self.supervisor.stop_signal is not None:
                    return None
                gone = [p for p in ps if p.poll() is not None]
                if gone:
                    raise ClusterError("\n".join(_exit_message(p, " before serving")
                                                 for p in gone))
                for index, addr in discovery.query("ps").items():
                    if index < len(ps) and ready.get(index) != addr and _serving(
                            channels, addr, self.config.security):
                        ready[index] = addr
                if len(ready) == len(ps):
                    break
                if time.monotonic() > deadline:
                    missing = [p.name for p in ps if p.index not in ready]
                    raise ClusterError(
                        f"{', '.join(missing)} not registered and serving within {limit_s:g} s "
                        f"(see {', '.join(str(p.log_path) for p in ps if p.index not in ready)})")
                self.supervisor.sleep()
        finally:
            for channel in channels.values():
                channel.close()
            discovery.close()
        return [ready[i] for i in range(len(ps))]

    def _stop_ps(self, ps: list[Child]) -> None:
        codes = self.supervisor.stop(ps)
        for child in ps:
            code = codes[child.name]
            if code == -signal.SIGKILL:
                print(f"ps-cluster: {child.name} did not stop within {self.config.grace_s:g} s "
                      f"of SIGTERM and was killed", file=self.err)
            elif code not in (0, -signal.SIGTERM):
                print(f"ps-cluster: warning: {_exit_message(child, ' on SIGTERM')}",
                      file=self.err)

    def _interrupted(self, bar: ProgressBar, start: float, reader: ProgressReader | None) -> int:
        signum = self.supervisor.stop_signal
        bar.close()
        running = self.supervisor.running()
        self.supervisor.stop(self.supervisor.children)
        print(f"ps-cluster: {_signal_name(signum)} received; stopped {len(running)} "
              f"running processes", file=self.err)
        if reader is not None and reader.poll().losses:
            self._report(reader, time.monotonic() - start, "interrupted")
        else:
            print("\n".join(format_logs(self._logs())), file=self.out)
        return 128 + signum

    def _report(self, reader: ProgressReader, wall_s: float, outcome: str) -> None:
        cfg = self.config
        progress = reader.poll()
        result = TrainingResult.load(cfg.result_file)
        try:
            plot = write_plot(cfg.plot_file, progress, result)
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"ps-cluster: warning: could not write {cfg.plot_file}: {exc}", file=self.err)
            plot = None
        facts = RunFacts(cfg.num_ps, cfg.num_workers, wall_s, self._logs(), plot, outcome)
        print(format_summary(facts, result, progress), file=self.out, flush=True)

    def _logs(self) -> tuple[tuple[str, Path], ...]:
        children = self.supervisor.children if self.supervisor else []
        return tuple((c.name, c.log_path) for c in children)


def _exit_message(child: Child, when: str = "") -> str:
    code = child.poll()
    how = (f"was killed by {_signal_name(-code)}" if code is not None and code < 0
           else f"exited with code {code}")
    line = child.error_line()
    return f"{child.name} {how}{when}{': ' + line if line else ''} (log: {child.log_path})"


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _serving(channels: dict[str, grpc.Channel], addr: str,
             security: SecurityConfig | None = None) -> bool:
    channel = channels.get(addr)
    if channel is None:
        channel = channels[addr] = sync_channel(addr, security, _CHANNEL_OPTIONS)
    return is_serving(channel, _HEALTH_TIMEOUT_S)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
