"""A worker's line to the controller: report each step, wait at the barrier while it stands.

Reports go out without waiting: the reply to step s is read before step s+1, so
the barrier costs a worker nothing until it is placed, and then stops it within
one step. They are sent by one long-lived reporter thread as blocking calls: a
gRPC ``future`` on an otherwise idle channel starts a polling thread per call,
which under a busy GIL cost the training loop more than the step's compute.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from services.controller import ADDR_FILE
from services.pb import controller_pb2 as pb
from services.pb import controller_pb2_grpc
from services.security import SecurityConfig, sync_channel

log = logging.getLogger(__name__)

_REPORT_TIMEOUT_S = 10.0


def find_controller(discovery, model_dir: Path | None, wait_s: float = 0.0) -> str | None:
    """The controller's address from discovery (role ``controller``) or the model dir's
    ``controller_addr``, polling up to ``wait_s``; None when there is none."""
    deadline = time.monotonic() + wait_s
    while True:
        found = discovery.query("controller").get(0) if discovery is not None else None
        if found is None and model_dir is not None:
            try:
                found = (Path(model_dir) / ADDR_FILE).read_text().strip() or None
            except FileNotFoundError:
                pass
        if found is not None or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)


class ControllerLink:
    def __init__(self, address: str, index: int, sync: bool = False,
                 security: SecurityConfig | None = None):
        self.address = address
        self.index = index
        self.sync = sync
        self._channel = sync_channel(address, security)
        self._stub = controller_pb2_grpc.ControllerStub(self._channel)
        self._reporter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="step-report")
        self._pending = None

    def resume_step(self) -> int:
        """The last step this worker reported before it was restarted (0 for a new one)."""
        reply = self._stub.GetTrainingStatus(pb.GetTrainingStatusRequest(),
                                             timeout=_REPORT_TIMEOUT_S, wait_for_ready=True)
        for w in reply.workers:
            if w.index == self.index:
                return int(w.step)
        return 0

    def after_step(self, step: int) -> None:
        """Reports ``step``; waits at the barrier if the previous report said it stands."""
        stop = self._collect()
        self._pending = self._reporter.submit(
            self._stub.ReportStep,
            pb.ReportStepRequest(worker_index=self.index, step=step, sync=self.sync),
            timeout=_REPORT_TIMEOUT_S)
        if stop:
            self.wait_at_barrier()

    def _collect(self) -> bool:
        pending, self._pending = self._pending, None
        if pending is None:
            return False
        try:
            return pending.result().stop
        except grpc.RpcError as exc:
            log.warning("step report to the controller failed: %s", exc.code().name)
            return False

    def wait_at_barrier(self) -> None:
        log.info("training stopped by the controller: waiting at the barrier",
                 extra={"index": self.index})
        self._stub.WaitAtBarrier(pb.WaitAtBarrierRequest(worker_index=self.index),
                                 wait_for_ready=True)
        log.info("training resumed", extra={"index": self.index})

    def finish(self, step: int) -> None:
        """The last report: this worker is done at ``step``."""
        self._collect()
        try:
            self._stub.ReportStep(pb.ReportStepRequest(worker_index=self.index, step=step,
                                                       finished=True, sync=self.sync),
                                  timeout=_REPORT_TIMEOUT_S, wait_for_ready=True)
        except grpc.RpcError as exc:
            log.warning("final report to the controller failed: %s", exc.code().name)

    def close(self) -> None:
        self._reporter.shutdown(wait=True)
        self._channel.close()
