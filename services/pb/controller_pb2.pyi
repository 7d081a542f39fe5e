from services.pb import checkpoint_pb2 as _checkpoint_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StopTrainingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StopTrainingResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResumeTrainingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResumeTrainingResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBlockStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBlockStatusResponse(_message.Message):
    __slots__ = ("blocked_indices", "unblocked_indices")
    BLOCKED_INDICES_FIELD_NUMBER: _ClassVar[int]
    UNBLOCKED_INDICES_FIELD_NUMBER: _ClassVar[int]
    blocked_indices: _containers.RepeatedScalarFieldContainer[int]
    unblocked_indices: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, blocked_indices: _Optional[_Iterable[int]] = ..., unblocked_indices: _Optional[_Iterable[int]] = ...) -> None: ...

class SaveCheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SaveCheckpointResponse(_message.Message):
    __slots__ = ("path", "step", "bytes", "seconds")
    PATH_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    path: str
    step: int
    bytes: int
    seconds: float
    def __init__(self, path: _Optional[str] = ..., step: _Optional[int] = ..., bytes: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...

class GetTrainingStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerStatus(_message.Message):
    __slots__ = ("index", "step", "seconds_since_report", "alive", "finished", "blocked")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SECONDS_SINCE_REPORT_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    index: int
    step: int
    seconds_since_report: float
    alive: bool
    finished: bool
    blocked: bool
    def __init__(self, index: _Optional[int] = ..., step: _Optional[int] = ..., seconds_since_report: _Optional[float] = ..., alive: _Optional[bool] = ..., finished: _Optional[bool] = ..., blocked: _Optional[bool] = ...) -> None: ...

class GetTrainingStatusResponse(_message.Message):
    __slots__ = ("global_step", "workers_alive", "num_workers", "stopped", "last_checkpoint", "last_checkpoint_step", "workers", "num_ps", "finished")
    GLOBAL_STEP_FIELD_NUMBER: _ClassVar[int]
    WORKERS_ALIVE_FIELD_NUMBER: _ClassVar[int]
    NUM_WORKERS_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_STEP_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    NUM_PS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    global_step: int
    workers_alive: int
    num_workers: int
    stopped: bool
    last_checkpoint: str
    last_checkpoint_step: int
    workers: _containers.RepeatedCompositeFieldContainer[WorkerStatus]
    num_ps: int
    finished: bool
    def __init__(self, global_step: _Optional[int] = ..., workers_alive: _Optional[int] = ..., num_workers: _Optional[int] = ..., stopped: _Optional[bool] = ..., last_checkpoint: _Optional[str] = ..., last_checkpoint_step: _Optional[int] = ..., workers: _Optional[_Iterable[_Union[WorkerStatus, _Mapping]]] = ..., num_ps: _Optional[int] = ..., finished: _Optional[bool] = ...) -> None: ...

class ListCheckpointsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCheckpointsResponse(_message.Message):
    __slots__ = ("checkpoints", "exempt_paths")
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    EXEMPT_PATHS_FIELD_NUMBER: _ClassVar[int]
    checkpoints: _containers.RepeatedCompositeFieldContainer[_checkpoint_pb2.CheckpointInfo]
    exempt_paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, checkpoints: _Optional[_Iterable[_Union[_checkpoint_pb2.CheckpointInfo, _Mapping]]] = ..., exempt_paths: _Optional[_Iterable[str]] = ...) -> None: ...

class ReportStepRequest(_message.Message):
    __slots__ = ("worker_index", "step", "finished", "sync")
    WORKER_INDEX_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    worker_index: int
    step: int
    finished: bool
    sync: bool
    def __init__(self, worker_index: _Optional[int] = ..., step: _Optional[int] = ..., finished: _Optional[bool] = ..., sync: _Optional[bool] = ...) -> None: ...

class ReportStepResponse(_message.Message):
    __slots__ = ("stop", "global_step")
    STOP_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_STEP_FIELD_NUMBER: _ClassVar[int]
    stop: bool
    global_step: int
    def __init__(self, stop: _Optional[bool] = ..., global_step: _Optional[int] = ...) -> None: ...

class WaitAtBarrierRequest(_message.Message):
    __slots__ = ("worker_index",)
    WORKER_INDEX_FIELD_NUMBER: _ClassVar[int]
    worker_index: int
    def __init__(self, worker_index: _Optional[int] = ...) -> None: ...

class WaitAtBarrierResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
