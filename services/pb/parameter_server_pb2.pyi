from services.pb import tensor_pb2 as _tensor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TableIds(_message.Message):
    __slots__ = ("table", "ids")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    table: str
    ids: _tensor_pb2.Tensor
    def __init__(self, table: _Optional[str] = ..., ids: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class PullRequest(_message.Message):
    __slots__ = ("tables", "dense")
    TABLES_FIELD_NUMBER: _ClassVar[int]
    DENSE_FIELD_NUMBER: _ClassVar[int]
    tables: _containers.RepeatedCompositeFieldContainer[TableIds]
    dense: _containers.RepeatedCompositeFieldContainer[DenseVariable]
    def __init__(self, tables: _Optional[_Iterable[_Union[TableIds, _Mapping]]] = ..., dense: _Optional[_Iterable[_Union[DenseVariable, _Mapping]]] = ...) -> None: ...

class PullResponse(_message.Message):
    __slots__ = ("embeddings", "dense_values", "dense_update_counts")
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    DENSE_VALUES_FIELD_NUMBER: _ClassVar[int]
    DENSE_UPDATE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    embeddings: _containers.RepeatedCompositeFieldContainer[_tensor_pb2.Tensor]
    dense_values: _containers.RepeatedCompositeFieldContainer[_tensor_pb2.Tensor]
    dense_update_counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, embeddings: _Optional[_Iterable[_Union[_tensor_pb2.Tensor, _Mapping]]] = ..., dense_values: _Optional[_Iterable[_Union[_tensor_pb2.Tensor, _Mapping]]] = ..., dense_update_counts: _Optional[_Iterable[int]] = ...) -> None: ...

class TableGradients(_message.Message):
    __slots__ = ("table", "ids", "gradients", "counts")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    table: str
    ids: _tensor_pb2.Tensor
    gradients: _tensor_pb2.Tensor
    counts: _tensor_pb2.Tensor
    def __init__(self, table: _Optional[str] = ..., ids: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., gradients: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., counts: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class PushRequest(_message.Message):
    __slots__ = ("tables", "timestamp_s", "global_step", "sync_replicas", "end_of_data", "dense_gradients")
    TABLES_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_S_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_STEP_FIELD_NUMBER: _ClassVar[int]
    SYNC_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    END_OF_DATA_FIELD_NUMBER: _ClassVar[int]
    DENSE_GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    tables: _containers.RepeatedCompositeFieldContainer[TableGradients]
    timestamp_s: int
    global_step: int
    sync_replicas: int
    end_of_data: bool
    dense_gradients: _containers.RepeatedCompositeFieldContainer[DenseGradient]
    def __init__(self, tables: _Optional[_Iterable[_Union[TableGradients, _Mapping]]] = ..., timestamp_s: _Optional[int] = ..., global_step: _Optional[int] = ..., sync_replicas: _Optional[int] = ..., end_of_data: _Optional[bool] = ..., dense_gradients: _Optional[_Iterable[_Union[DenseGradient, _Mapping]]] = ...) -> None: ...

class PushResult(_message.Message):
    __slots__ = ("table", "applied", "filtered", "created")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    FILTERED_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    table: str
    applied: int
    filtered: int
    created: int
    def __init__(self, table: _Optional[str] = ..., applied: _Optional[int] = ..., filtered: _Optional[int] = ..., created: _Optional[int] = ...) -> None: ...

class PushResponse(_message.Message):
    __slots__ = ("results", "stop", "dense_update_counts")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    DENSE_UPDATE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[PushResult]
    stop: bool
    dense_update_counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, results: _Optional[_Iterable[_Union[PushResult, _Mapping]]] = ..., stop: _Optional[bool] = ..., dense_update_counts: _Optional[_Iterable[int]] = ...) -> None: ...

class DenseVariable(_message.Message):
    __slots__ = ("name", "initial_value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INITIAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    initial_value: _tensor_pb2.Tensor
    def __init__(self, name: _Optional[str] = ..., initial_value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class PullDenseRequest(_message.Message):
    __slots__ = ("variables",)
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    variables: _containers.RepeatedCompositeFieldContainer[DenseVariable]
    def __init__(self, variables: _Optional[_Iterable[_Union[DenseVariable, _Mapping]]] = ...) -> None: ...

class PullDenseResponse(_message.Message):
    __slots__ = ("values", "update_counts")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    UPDATE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[_tensor_pb2.Tensor]
    update_counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[_Union[_tensor_pb2.Tensor, _Mapping]]] = ..., update_counts: _Optional[_Iterable[int]] = ...) -> None: ...

class DenseGradient(_message.Message):
    __slots__ = ("name", "gradient")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    gradient: _tensor_pb2.Tensor
    def __init__(self, name: _Optional[str] = ..., gradient: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class PushDenseRequest(_message.Message):
    __slots__ = ("gradients", "global_step", "sync_replicas", "end_of_data")
    GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_STEP_FIELD_NUMBER: _ClassVar[int]
    SYNC_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    END_OF_DATA_FIELD_NUMBER: _ClassVar[int]
    gradients: _containers.RepeatedCompositeFieldContainer[DenseGradient]
    global_step: int
    sync_replicas: int
    end_of_data: bool
    def __init__(self, gradients: _Optional[_Iterable[_Union[DenseGradient, _Mapping]]] = ..., global_step: _Optional[int] = ..., sync_replicas: _Optional[int] = ..., end_of_data: _Optional[bool] = ...) -> None: ...

class PushDenseResponse(_message.Message):
    __slots__ = ("update_counts", "stop")
    UPDATE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    update_counts: _containers.RepeatedScalarFieldContainer[int]
    stop: bool
    def __init__(self, update_counts: _Optional[_Iterable[int]] = ..., stop: _Optional[bool] = ...) -> None: ...

class StealTouchedKeysRequest(_message.Message):
    __slots__ = ("table",)
    TABLE_FIELD_NUMBER: _ClassVar[int]
    table: str
    def __init__(self, table: _Optional[str] = ...) -> None: ...

class StealTouchedKeysResponse(_message.Message):
    __slots__ = ("ids", "dropped")
    IDS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    ids: _tensor_pb2.Tensor
    dropped: int
    def __init__(self, ids: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., dropped: _Optional[int] = ...) -> None: ...

class OptimizerConfig(_message.Message):
    __slots__ = ("type", "hyperparameters")
    class HyperparametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    type: str
    hyperparameters: _containers.ScalarMap[str, float]
    def __init__(self, type: _Optional[str] = ..., hyperparameters: _Optional[_Mapping[str, float]] = ...) -> None: ...

class InitializerConfig(_message.Message):
    __slots__ = ("type", "parameters")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    type: str
    parameters: _containers.ScalarMap[str, float]
    def __init__(self, type: _Optional[str] = ..., parameters: _Optional[_Mapping[str, float]] = ...) -> None: ...

class TableConfig(_message.Message):
    __slots__ = ("name", "dim", "optimizer", "initializer", "expire_after_s", "occurrence_threshold", "pull_dtype")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    INITIALIZER_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PULL_DTYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    dim: int
    optimizer: OptimizerConfig
    initializer: InitializerConfig
    expire_after_s: int
    occurrence_threshold: int
    pull_dtype: _tensor_pb2.DType
    def __init__(self, name: _Optional[str] = ..., dim: _Optional[int] = ..., optimizer: _Optional[_Union[OptimizerConfig, _Mapping]] = ..., initializer: _Optional[_Union[InitializerConfig, _Mapping]] = ..., expire_after_s: _Optional[int] = ..., occurrence_threshold: _Optional[int] = ..., pull_dtype: _Optional[_Union[_tensor_pb2.DType, str]] = ...) -> None: ...

class GetTableInfoRequest(_message.Message):
    __slots__ = ("table",)
    TABLE_FIELD_NUMBER: _ClassVar[int]
    table: str
    def __init__(self, table: _Optional[str] = ...) -> None: ...

class TableInfo(_message.Message):
    __slots__ = ("config", "rows", "capacity", "bytes", "slots", "shard", "num_shards")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    NUM_SHARDS_FIELD_NUMBER: _ClassVar[int]
    config: TableConfig
    rows: int
    capacity: int
    bytes: int
    slots: _containers.RepeatedCompositeFieldContainer[SlotInfo]
    shard: int
    num_shards: int
    def __init__(self, config: _Optional[_Union[TableConfig, _Mapping]] = ..., rows: _Optional[int] = ..., capacity: _Optional[int] = ..., bytes: _Optional[int] = ..., slots: _Optional[_Iterable[_Union[SlotInfo, _Mapping]]] = ..., shard: _Optional[int] = ..., num_shards: _Optional[int] = ...) -> None: ...

class SlotInfo(_message.Message):
    __slots__ = ("name", "width")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    name: str
    width: int
    def __init__(self, name: _Optional[str] = ..., width: _Optional[int] = ...) -> None: ...

class GetTableInfoResponse(_message.Message):
    __slots__ = ("tables",)
    TABLES_FIELD_NUMBER: _ClassVar[int]
    tables: _containers.RepeatedCompositeFieldContainer[TableInfo]
    def __init__(self, tables: _Optional[_Iterable[_Union[TableInfo, _Mapping]]] = ...) -> None: ...

class EvictRequest(_message.Message):
    __slots__ = ("table",)
    TABLE_FIELD_NUMBER: _ClassVar[int]
    table: str
    def __init__(self, table: _Optional[str] = ...) -> None: ...

class EvictResponse(_message.Message):
    __slots__ = ("evicted",)
    EVICTED_FIELD_NUMBER: _ClassVar[int]
    evicted: int
    def __init__(self, evicted: _Optional[int] = ...) -> None: ...

class InspectRowsRequest(_message.Message):
    __slots__ = ("table", "ids")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    table: str
    ids: _tensor_pb2.Tensor
    def __init__(self, table: _Optional[str] = ..., ids: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class InspectRowsResponse(_message.Message):
    __slots__ = ("found", "embeddings", "slots", "last_update_s")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATE_S_FIELD_NUMBER: _ClassVar[int]
    found: _tensor_pb2.Tensor
    embeddings: _tensor_pb2.Tensor
    slots: _tensor_pb2.Tensor
    last_update_s: _tensor_pb2.Tensor
    def __init__(self, found: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., embeddings: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., slots: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., last_update_s: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class ExportRowsRequest(_message.Message):
    __slots__ = ("table",)
    TABLE_FIELD_NUMBER: _ClassVar[int]
    table: str
    def __init__(self, table: _Optional[str] = ...) -> None: ...

class ExportRowsResponse(_message.Message):
    __slots__ = ("ids", "embeddings")
    IDS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    ids: _tensor_pb2.Tensor
    embeddings: _tensor_pb2.Tensor
    def __init__(self, ids: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., embeddings: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
