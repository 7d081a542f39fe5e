"""The Controller gRPC servicer: barrier, block status, saves, training status."""

from __future__ import annotations

import asyncio
import time

from services import checkpoints
from services.controller.barrier import Barrier
from services.controller.saver import CheckpointSaver
from services.controller.workers import WorkerTable
from services.pb import controller_pb2 as pb
from services.pb import controller_pb2_grpc

SERVICE_NAME = "monolith_ps.v1.Controller"


class ControllerService(controller_pb2_grpc.ControllerServicer):
    def __init__(self, workers: WorkerTable, barrier: Barrier, saver: CheckpointSaver,
                 num_ps: int, metrics=None):
        self.workers = workers
        self.barrier = barrier
        self.saver = saver
        self.num_ps = num_ps
        self.metrics = metrics

    async def StopTraining(self, request, context):
        self.barrier.stop()
        return pb.StopTrainingResponse()

    async def ResumeTraining(self, request, context):
        self.barrier.resume()
        return pb.ResumeTrainingResponse()

    async def GetBlockStatus(self, request, context):
        blocked = self.barrier.blocked()
        others = [i for i in range(self.workers.num_workers) if i not in blocked]
        return pb.GetBlockStatusResponse(blocked_indices=blocked, unblocked_indices=others)

    async def SaveCheckpoint(self, request, context):
        start = time.perf_counter()
        saved = await self.saver.save(self.workers.global_step)
        return pb.SaveCheckpointResponse(path=str(saved.path), step=saved.step, bytes=saved.bytes,
                                         seconds=time.perf_counter() - start)

    async def GetTrainingStatus(self, request, context):
        w = self.workers
        blocked = set(self.barrier.blocked())
        reply = pb.GetTrainingStatusResponse(
            global_step=w.global_step, num_workers=w.num_workers, num_ps=self.num_ps,
            stopped=self.barrier.stopped, finished=w.finished,
            workers_alive=sum(w.alive(i) for i in range(w.num_workers)))
        if self.saver.last is not None:
            reply.last_checkpoint = str(self.saver.last.path)
            reply.last_checkpoint_step = self.saver.last.step
        for i, state in enumerate(w.workers):
            reply.workers.add(index=i, step=state.step, seconds_since_report=w.since_report(i),
                              alive=w.alive(i), finished=state.finished, blocked=i in blocked)
        return reply

    async def ListCheckpoints(self, request, context):
        meta = await asyncio.to_thread(checkpoints.read_meta, self.saver.model_dir)
        return pb.ListCheckpointsResponse(checkpoints=list(meta.checkpoints),
                                          exempt_paths=list(meta.exempt_model_checkpoint_paths))

    async def ReportStep(self, request, context):
        self.workers.report(request.worker_index, request.step, request.finished, request.sync)
        if self.metrics is not None:
            self.metrics.global_step.set(self.workers.global_step)
        return pb.ReportStepResponse(stop=self.barrier.stopped, global_step=self.workers.global_step)

    async def WaitAtBarrier(self, request, context):
        self.workers.check_index(request.worker_index)
        await self.barrier.wait(request.worker_index)
        return pb.WaitAtBarrierResponse()
