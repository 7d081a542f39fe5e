"""Pull/Push messages in protobuf wire format, without protobuf objects.

Protobuf objects copy every MiB-sized ``bytes`` field; these functions read
and write the same bytes the generated classes do (a test holds them
identical both ways) but decode tensors as ``np.frombuffer`` views of the
message and let the server gather rows straight into the reply buffer.
Other languages use the generated stubs for the same messages unchanged.

Decoders accept any valid encoding: fields in any order, unknown fields
skipped, packed or unpacked ``shape``, repeated singular fields merged as
protobuf merges them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from services.errors import InvalidArgument
from services.tensors import array_from_parts, dtype_code

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _read_varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise InvalidArgument("malformed message: truncated or overlong varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf, pos: int, end: int):
    """Yields (field number, wire type, value or (start, stop) of a LEN field)."""
    while pos < end:
        key, pos = _read_varint(buf, pos, end)
        field, wire_type = key >> 3, key & 7
        if field == 0:
            raise InvalidArgument("malformed message: field number 0")
        if wire_type == _VARINT:
            value, pos = _read_varint(buf, pos, end)
        elif wire_type == _LEN:
            length, pos = _read_varint(buf, pos, end)
            if pos + length > end:
                raise InvalidArgument("malformed message: length past the end of the message")
            value = (pos, pos + length)
            pos += length
        elif wire_type == _I64:
            value, pos = None, pos + 8
        elif wire_type == _I32:
            value, pos = None, pos + 4
        else:
            raise InvalidArgument(f"malformed message: wire type {wire_type}")
        if pos > end:
            raise InvalidArgument("malformed message: field past the end of the message")
        yield field, wire_type, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass
class _TensorParts:
    dtype: int = 0
    shape: list | None = None
    data: memoryview | bytes = b""

    def merge(self, view: memoryview, start: int, stop: int) -> None:
        if self.shape is None:
            self.shape = []
        for field, wire_type, value in _fields(view, start, stop):
            if field == 1 and wire_type == _VARINT:
                self.dtype = _signed(value)
            elif field == 2 and wire_type == _LEN:
                pos, end = value
                while pos < end:
                    dim, pos = _read_varint(view, pos, end)
                    self.shape.append(_signed(dim))
            elif field == 2 and wire_type == _VARINT:
                self.shape.append(_signed(value))
            elif field == 3 and wire_type == _LEN:
                self.data = view[value[0]:value[1]]

    def array(self, field: str) -> np.ndarray:
        return array_from_parts(self.dtype, self.shape or [], self.data, field)


def _string(view: memoryview, span: tuple[int, int], field: str) -> str:
    try:
        return bytes(view[span[0]:span[1]]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{field}: not valid UTF-8") from exc


def _tensor_bytes(array: np.ndarray) -> list:
    """Encoded Tensor message body as a list of byte chunks (data not copied)."""
    code = dtype_code(array.dtype)
    parts: list = []
    if code:
        parts += [_key(1, _VARINT), _varint(code)]
    if array.ndim:
        shape = b"".join(_varint(s) for s in array.shape)
        parts += [_key(2, _LEN), _varint(len(shape)), shape]
    if array.nbytes:
        data = memoryview(np.ascontiguousarray(array)).cast("B")
        parts += [_key(3, _LEN), _varint(len(data)), data]
    return parts


def _len_field(field: int, chunks: list) -> list:
    size = sum(len(c) for c in chunks)
    return [_key(field, _LEN), _varint(size), *chunks]


def _string_field(field: int, text: str) -> list:
    raw = text.encode("utf-8")
    return [_key(field, _LEN), _varint(len(raw)), raw] if raw else []


def _varint_field(field: int, value: int) -> list:
    return [_key(field, _VARINT), _varint(value)] if value else []


# -- Pull ---------------------------------------------------------------------


def _named_tensor_field(field: int, name: str, array: np.ndarray | None) -> list:
    """A DenseVariable / DenseGradient (name = 1, tensor = 2) as field ``field``."""
    body = _string_field(1, name)
    if array is not None:
        body += _len_field(2, _tensor_bytes(np.asarray(array, np.float32)))
    return _len_field(field, body)


def _decode_named_tensor(view: memoryview, span: tuple[int, int], what: str
                         ) -> tuple[str, np.ndarray | None]:
    name, tensor = "", None
    for f, wt, v in _fields(view, *span):
        if f == 1 and wt == _LEN:
            name = _string(view, v, f"{what}.name")
        elif f == 2 and wt == _LEN:
            tensor = tensor or _TensorParts()
            tensor.merge(view, *v)
    return name, None if tensor is None else tensor.array(f"variable {name!r}: {what}")


def _int64s_field(field: int, values) -> list:
    """A packed repeated int64 field (absent when empty, as protobuf writes it)."""
    packed = b"".join(_varint(int(v)) for v in values)
    return [_key(field, _LEN), _varint(len(packed)), packed] if packed else []


def _read_int64s(view: memoryview, wire_type: int, value, out: list) -> None:
    """Appends a packed or unpacked repeated int64 field's values to ``out``."""
    if wire_type == _VARINT:
        out.append(_signed(value))
    elif wire_type == _LEN:
        pos, end = value
        while pos < end:
            number, pos = _read_varint(view, pos, end)
            out.append(_signed(number))


@dataclass(frozen=True)
class PullMessage:
    """A PullRequest: (table, ids (n,) int64) pairs and dense variables to read with them,
    (name, initial value or None) pairs."""

    tables: list[tuple[str, np.ndarray]]
    dense: list[tuple[str, np.ndarray | None]] = dataclasses.field(default_factory=list)


def encode_pull_request(tables: list[tuple[str, np.ndarray]],
                        dense: list[tuple[str, np.ndarray | None]] = ()) -> bytes:
    """PullRequest bytes for (table, ids (n,) int64) pairs and (variable, initial value or
    None) pairs."""
    parts: list = []
    for name, ids in tables:
        body = _string_field(1, name) + _len_field(2, _tensor_bytes(np.asarray(ids, np.int64)))
        parts += _len_field(1, body)
    for name, initial in dense:
        parts += _named_tensor_field(2, name, initial)
    return b"".join(parts)


def decode_pull_message(data: bytes) -> PullMessage:
    """A PullRequest; ids and initial values are read-only views of ``data``."""
    view = memoryview(data)
    tables, dense = [], []
    for field_number, wire_type, value in _fields(view, 0, len(view)):
        if wire_type != _LEN:
            continue
        if field_number == 1:
            name, ids = "", _TensorParts()
            for f, wt, v in _fields(view, *value):
                if f == 1 and wt == _LEN:
                    name = _string(view, v, "tables.table")
                elif f == 2 and wt == _LEN:
                    ids.merge(view, *v)
            tables.append((name, ids.array(f"table {name!r}: ids")))
        elif field_number == 2:
            dense.append(_decode_named_tensor(view, value, "initial_value"))
    return PullMessage(tables, dense)


def decode_pull_request(data: bytes) -> list[tuple[str, np.ndarray]]:
    """(table, ids) pairs of a PullRequest; ids are read-only views of ``data``."""
    return decode_pull_message(data).tables


class PullReply:
    """A PullResponse laid out in one buffer before its rows are known.

    ``views[i]`` is a writable (n_i, dim_i) array inside the buffer where the
    table's rows go; ``payload()`` is then the finished message.
    """

    def __init__(self, specs: list[tuple[np.dtype, tuple[int, int]]]):
        headers, sizes = [], []
        for dtype, shape in specs:
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            code = dtype_code(dtype)
            head = [_key(1, _VARINT), _varint(code)] if code else []
            shape_bytes = b"".join(_varint(s) for s in shape)
            head += [_key(2, _LEN), _varint(len(shape_bytes)), shape_bytes]
            if nbytes:
                head += [_key(3, _LEN), _varint(nbytes)]
            body = b"".join(head)
            headers.append(b"".join([_key(1, _LEN), _varint(len(body) + nbytes), body]))
            sizes.append(nbytes)
        self.buffer = bytearray(sum(len(h) for h in headers) + sum(sizes))
        self.views: list[np.ndarray] = []
        pos = 0
        for (dtype, shape), head, nbytes in zip(specs, headers, sizes):
            self.buffer[pos:pos + len(head)] = head
            pos += len(head)
            view = np.frombuffer(self.buffer, dtype=dtype, count=nbytes // np.dtype(dtype).itemsize,
                                 offset=pos)
            self.views.append(view.reshape(shape))
            pos += nbytes

    def payload(self, dense_values: list[np.ndarray] = (),
                update_counts: list[int] = ()) -> bytes:
        """The message, with the dense variables' values and update counts after the rows."""
        if not dense_values and not update_counts:
            return bytes(self.buffer)
        parts: list = [self.buffer]
        for value in dense_values:
            parts += _len_field(2, _tensor_bytes(np.asarray(value, np.float32)))
        parts += _int64s_field(3, update_counts)
        return b"".join(parts)


@dataclass(frozen=True)
class PullAnswer:
    """A PullResponse: embeddings per table, then the dense variables' values and update
    counts (empty when none were asked for, or from a server that predates them)."""

    embeddings: list[np.ndarray]
    dense_values: list[np.ndarray] = dataclasses.field(default_factory=list)
    dense_update_counts: list[int] = dataclasses.field(default_factory=list)


def encode_pull_response(embeddings: list[np.ndarray], dense_values: list[np.ndarray] = (),
                         update_counts: list[int] = ()) -> bytes:
    """PullResponse bytes for finished arrays (the client-side test path)."""
    reply = PullReply([(e.dtype, e.shape) for e in embeddings])
    for view, e in zip(reply.views, embeddings):
        view[...] = e
    return reply.payload(dense_values, update_counts)


def decode_pull_answer(data: bytes) -> PullAnswer:
    """A PullResponse with every tensor a read-only view of ``data``."""
    view = memoryview(data)
    answer = PullAnswer([])
    for field_number, wire_type, value in _fields(view, 0, len(view)):
        if field_number in (1, 2) and wire_type == _LEN:
            parts = _TensorParts()
            parts.merge(view, *value)
            out = answer.embeddings if field_number == 1 else answer.dense_values
            what = "embeddings" if field_number == 1 else "dense_values"
            out.append(parts.array(f"{what}[{len(out)}]"))
        elif field_number == 3:
            _read_int64s(view, wire_type, value, answer.dense_update_counts)
    return answer


def decode_pull_response(data: bytes) -> list[np.ndarray]:
    """Embedding arrays of a PullResponse, as read-only views of ``data``."""
    return decode_pull_answer(data).embeddings


# -- Push ---------------------------------------------------------------------


@dataclass(frozen=True)
class TablePush:
    """One table's part of a PushRequest. ids (n,), gradients (n, dim), counts (n,) or None."""

    table: str
    ids: np.ndarray
    gradients: np.ndarray
    counts: np.ndarray | None = None


@dataclass(frozen=True)
class PushMessage:
    """A PushRequest. ``sync_replicas`` > 0 makes it one contribution to a synchronous step."""

    tables: list[TablePush]
    timestamp_s: int = 0
    global_step: int = 0
    sync_replicas: int = 0
    end_of_data: bool = False
    dense: list[tuple[str, np.ndarray]] = dataclasses.field(default_factory=list)
    """(variable, gradient float32 of its shape) pairs, asynchronous pushes only."""


def encode_push_request(message: PushMessage) -> bytes:
    """PushRequest bytes; gradient bytes are copied once, into the result."""
    parts: list = []
    for t in message.tables:
        body = _string_field(1, t.table)
        body += _len_field(2, _tensor_bytes(np.asarray(t.ids, np.int64)))
        body += _len_field(3, _tensor_bytes(np.asarray(t.gradients, np.float32)))
        if t.counts is not None:
            body += _len_field(4, _tensor_bytes(np.asarray(t.counts, np.int64)))
        parts += _len_field(1, body)
    parts += _varint_field(2, message.timestamp_s)
    parts += _varint_field(3, message.global_step)
    parts += _varint_field(4, message.sync_replicas)
    parts += _varint_field(5, int(message.end_of_data))
    for name, gradient in message.dense:
        parts += _named_tensor_field(6, name, gradient)
    return b"".join(parts)


def decode_push_request(data: bytes) -> PushMessage:
    """A PushRequest with tensors as read-only views of ``data`` (validated for shape/bytes only)."""
    view = memoryview(data)
    tables: list[TablePush] = []
    dense: list[tuple[str, np.ndarray]] = []
    timestamp_s = global_step = sync_replicas = end_of_data = 0
    for field, wire_type, value in _fields(view, 0, len(view)):
        if field == 1 and wire_type == _LEN:
            name, ids, grads, counts = "", _TensorParts(), _TensorParts(), None
            for f, wt, v in _fields(view, *value):
                if f == 1 and wt == _LEN:
                    name = _string(view, v, "tables.table")
                elif f == 2 and wt == _LEN:
                    ids.merge(view, *v)
                elif f == 3 and wt == _LEN:
                    grads.merge(view, *v)
                elif f == 4 and wt == _LEN:
                    counts = counts or _TensorParts()
                    counts.merge(view, *v)
            where = f"table {name!r}"
            tables.append(TablePush(
                table=name,
                ids=ids.array(f"{where}: ids"),
                gradients=grads.array(f"{where}: gradients"),
                counts=None if counts is None else counts.array(f"{where}: counts"),
            ))
        elif field == 2 and wire_type == _VARINT:
            timestamp_s = _signed(value)
        elif field == 3 and wire_type == _VARINT:
            global_step = _signed(value)
        elif field == 4 and wire_type == _VARINT:
            sync_replicas = _signed(value)
        elif field == 5 and wire_type == _VARINT:
            end_of_data = value != 0
        elif field == 6 and wire_type == _LEN:
            name, gradient = _decode_named_tensor(view, value, "gradient")
            dense.append((name, np.zeros(0, np.float32) if gradient is None else gradient))
    return PushMessage(tables, timestamp_s, global_step, sync_replicas, bool(end_of_data),
                       dense)


def read_varint_field(data: bytes, number: int) -> int:
    """The last value of varint field ``number`` at the top level of a message (0 if absent)."""
    view = memoryview(data)
    result = 0
    for field, wire_type, value in _fields(view, 0, len(view)):
        if field == number and wire_type == _VARINT:
            result = _signed(value)
    return result
