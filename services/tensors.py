"""NumPy arrays <-> ``monolith_ps.v1.Tensor``: raw little-endian bytes with dtype and shape.

Decoding never copies: the array is an ``np.frombuffer`` view of the message
bytes (read-only). Every check names the field it found wrong.
"""

from __future__ import annotations

import numpy as np

from services.errors import InvalidArgument
from services.pb import tensor_pb2

DTYPE_TO_NUMPY: dict[int, np.dtype] = {
    tensor_pb2.DTYPE_FLOAT32: np.dtype("<f4"),
    tensor_pb2.DTYPE_FLOAT16: np.dtype("<f2"),
    tensor_pb2.DTYPE_INT64: np.dtype("<i8"),
    tensor_pb2.DTYPE_INT32: np.dtype("<i4"),
    tensor_pb2.DTYPE_FLOAT64: np.dtype("<f8"),
}
NUMPY_TO_DTYPE: dict[np.dtype, int] = {v: k for k, v in DTYPE_TO_NUMPY.items()}


def dtype_code(dtype: np.dtype) -> int:
    """The proto DType of a NumPy dtype; ValueError for unsupported ones."""
    code = NUMPY_TO_DTYPE.get(np.dtype(dtype).newbyteorder("<"))
    if code is None:
        raise ValueError(f"dtype {np.dtype(dtype)} has no monolith_ps.v1.DType")
    return code


def dtype_name(code: int) -> str:
    return tensor_pb2.DType.Name(code) if code in tensor_pb2.DType.values() else str(code)


def to_tensor(array: np.ndarray) -> tensor_pb2.Tensor:
    """Encodes an array (copying its bytes once, as protobuf requires)."""
    array = np.asarray(array)
    code = dtype_code(array.dtype)
    data = np.ascontiguousarray(array, dtype=DTYPE_TO_NUMPY[code]).tobytes()
    return tensor_pb2.Tensor(dtype=code, shape=list(array.shape), data=data)


def array_from_parts(dtype: int, shape, data, field: str) -> np.ndarray:
    """Validates dtype/shape/length and returns a no-copy view of ``data``."""
    np_dtype = DTYPE_TO_NUMPY.get(dtype)
    if np_dtype is None:
        raise InvalidArgument(f"{field}: unknown dtype {dtype_name(dtype)}")
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise InvalidArgument(f"{field}: negative dimension in shape {list(shape)}")
    count = 1
    for s in shape:
        count *= s
    if count * np_dtype.itemsize != len(data):
        raise InvalidArgument(
            f"{field}: shape {list(shape)} of {dtype_name(dtype)} needs "
            f"{count * np_dtype.itemsize} bytes, got {len(data)}"
        )
    return np.frombuffer(data, dtype=np_dtype, count=count).reshape(shape)


def from_tensor(tensor: tensor_pb2.Tensor, field: str) -> np.ndarray:
    """Decodes a Tensor message; InvalidArgument naming ``field`` when malformed."""
    return array_from_parts(tensor.dtype, tensor.shape, tensor.data, field)


def expect(array: np.ndarray, dtype: np.dtype, ndim: int, field: str) -> np.ndarray:
    """Checks a decoded array's dtype and rank; InvalidArgument naming ``field``."""
    if array.dtype != np.dtype(dtype):
        raise InvalidArgument(
            f"{field}: expected dtype {dtype_name(dtype_code(dtype))}, "
            f"got {dtype_name(dtype_code(array.dtype))}"
        )
    if array.ndim != ndim:
        raise InvalidArgument(f"{field}: expected {ndim}-d, got shape {list(array.shape)}")
    return array
