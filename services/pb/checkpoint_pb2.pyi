from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SaveShardRequest(_message.Message):
    __slots__ = ("path", "step")
    PATH_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    path: str
    step: int
    def __init__(self, path: _Optional[str] = ..., step: _Optional[int] = ...) -> None: ...

class SaveShardResponse(_message.Message):
    __slots__ = ("shard", "num_shards", "rows", "dense_variables", "bytes", "seconds")
    class RowsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SHARD_FIELD_NUMBER: _ClassVar[int]
    NUM_SHARDS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    DENSE_VARIABLES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    shard: int
    num_shards: int
    rows: _containers.ScalarMap[str, int]
    dense_variables: int
    bytes: int
    seconds: float
    def __init__(self, shard: _Optional[int] = ..., num_shards: _Optional[int] = ..., rows: _Optional[_Mapping[str, int]] = ..., dense_variables: _Optional[int] = ..., bytes: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...

class CheckpointState(_message.Message):
    __slots__ = ("model_checkpoint_path", "all_model_checkpoint_paths", "all_model_checkpoint_timestamps", "last_preserved_timestamp")
    MODEL_CHECKPOINT_PATH_FIELD_NUMBER: _ClassVar[int]
    ALL_MODEL_CHECKPOINT_PATHS_FIELD_NUMBER: _ClassVar[int]
    ALL_MODEL_CHECKPOINT_TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    LAST_PRESERVED_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    model_checkpoint_path: str
    all_model_checkpoint_paths: _containers.RepeatedScalarFieldContainer[str]
    all_model_checkpoint_timestamps: _containers.RepeatedScalarFieldContainer[float]
    last_preserved_timestamp: float
    def __init__(self, model_checkpoint_path: _Optional[str] = ..., all_model_checkpoint_paths: _Optional[_Iterable[str]] = ..., all_model_checkpoint_timestamps: _Optional[_Iterable[float]] = ..., last_preserved_timestamp: _Optional[float] = ...) -> None: ...

class MonolithCheckpointState(_message.Message):
    __slots__ = ("exempt_model_checkpoint_paths", "builtin_hash_table_type", "last_checkpoint_save_timestamp", "checkpoints")
    EXEMPT_MODEL_CHECKPOINT_PATHS_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_HASH_TABLE_TYPE_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_SAVE_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    exempt_model_checkpoint_paths: _containers.RepeatedScalarFieldContainer[str]
    builtin_hash_table_type: str
    last_checkpoint_save_timestamp: int
    checkpoints: _containers.RepeatedCompositeFieldContainer[CheckpointInfo]
    def __init__(self, exempt_model_checkpoint_paths: _Optional[_Iterable[str]] = ..., builtin_hash_table_type: _Optional[str] = ..., last_checkpoint_save_timestamp: _Optional[int] = ..., checkpoints: _Optional[_Iterable[_Union[CheckpointInfo, _Mapping]]] = ...) -> None: ...

class CheckpointInfo(_message.Message):
    __slots__ = ("path", "step", "num_shards", "timestamp", "tables_json", "bytes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    NUM_SHARDS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TABLES_JSON_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    path: str
    step: int
    num_shards: int
    timestamp: float
    tables_json: str
    bytes: int
    def __init__(self, path: _Optional[str] = ..., step: _Optional[int] = ..., num_shards: _Optional[int] = ..., timestamp: _Optional[float] = ..., tables_json: _Optional[str] = ..., bytes: _Optional[int] = ...) -> None: ...
