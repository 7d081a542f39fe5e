"""The hand-written Pull/Push codec is byte-identical to the generated classes, both ways."""

import numpy as np
import pytest

from services import wire
from services.errors import InvalidArgument
from services.pb import parameter_server_pb2 as pb
from services.pb import tensor_pb2
from services.tensors import from_tensor, to_tensor

rng = np.random.default_rng(7)


def _ids(n):
    return rng.integers(-(2**63), 2**63 - 1, size=n, dtype=np.int64)


@pytest.mark.parametrize("sizes", [[0], [1], [3, 0, 65536], [1000, 17]])
def test_pull_request_matches_generated(sizes):
    tables = [(f"t{i}", _ids(n)) for i, n in enumerate(sizes)]
    ours = wire.encode_pull_request(tables)
    theirs = pb.PullRequest(
        tables=[pb.TableIds(table=name, ids=to_tensor(ids)) for name, ids in tables]
    ).SerializeToString()
    assert ours == theirs
    decoded = wire.decode_pull_request(theirs)
    assert [name for name, _ in decoded] == [name for name, _ in tables]
    for (_, got), (_, want) in zip(decoded, tables):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_pull_response_matches_generated(dtype):
    arrays = [rng.standard_normal((n, d)).astype(dtype) for n, d in [(5, 16), (0, 8), (300, 4)]]
    ours = wire.encode_pull_response(arrays)
    theirs = pb.PullResponse(embeddings=[to_tensor(a) for a in arrays]).SerializeToString()
    assert ours == theirs
    parsed = pb.PullResponse.FromString(ours)
    for tensor, want in zip(parsed.embeddings, arrays):
        np.testing.assert_array_equal(from_tensor(tensor, "e"), want)
    for got, want in zip(wire.decode_pull_response(theirs), arrays):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_pull_reply_buffer_is_filled_in_place():
    reply = wire.PullReply([(np.dtype(np.float32), (4, 3)), (np.dtype(np.float16), (2, 2))])
    reply.views[0][...] = np.arange(12, dtype=np.float32).reshape(4, 3)
    reply.views[1][...] = 1.5
    parsed = pb.PullResponse.FromString(bytes(reply.payload()))
    np.testing.assert_array_equal(from_tensor(parsed.embeddings[0], "e"),
                                  np.arange(12, dtype=np.float32).reshape(4, 3))
    assert parsed.embeddings[1].dtype == tensor_pb2.DTYPE_FLOAT16
    np.testing.assert_array_equal(from_tensor(parsed.embeddings[1], "e"), np.full((2, 2), 1.5))


@pytest.mark.parametrize("with_counts", [False, True])
@pytest.mark.parametrize("timestamp_s,global_step,replicas,eod", [
    (0, 0, 0, False), (1_700_000_000, 42, 0, False), (5, 7, 3, True), (5, 7, -1, False)])
def test_push_request_matches_generated(with_counts, timestamp_s, global_step, replicas, eod):
    parts = []
    for name, n in [("user", 100), ("empty", 0), ("item", 7)]:
        ids = _ids(n)
        grads = rng.standard_normal((n, 8)).astype(np.float32)
        counts = rng.integers(1, 5, size=n).astype(np.int64) if with_counts else None
        parts.append(wire.TablePush(name, ids, grads, counts))
    ours = wire.encode_push_request(
        wire.PushMessage(parts, timestamp_s, global_step, replicas, eod))
    theirs = pb.PushRequest(
        tables=[pb.TableGradients(
            table=p.table, ids=to_tensor(p.ids), gradients=to_tensor(p.gradients),
            **({"counts": to_tensor(p.counts)} if p.counts is not None else {}))
            for p in parts],
        timestamp_s=timestamp_s, global_step=global_step, sync_replicas=replicas,
        end_of_data=eod).SerializeToString()
    assert ours == theirs
    decoded = wire.decode_push_request(theirs)
    assert (decoded.timestamp_s, decoded.global_step, decoded.sync_replicas,
            decoded.end_of_data) == (timestamp_s, global_step, replicas, eod)
    for got, want in zip(decoded.tables, parts):
        assert got.table == want.table
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.gradients, want.gradients)
        if want.counts is None:
            assert got.counts is None
        else:
            np.testing.assert_array_equal(got.counts, want.counts)


def test_dense_fields_of_pull_and_push_match_generated():
    tables = [("t", _ids(5))]
    w, b = rng.standard_normal((3, 2)).astype(np.float32), np.ones(4, np.float32)
    ours = wire.encode_pull_request(tables, [("w", w), ("b", None)])
    theirs = pb.PullRequest(
        tables=[pb.TableIds(table="t", ids=to_tensor(tables[0][1]))],
        dense=[pb.DenseVariable(name="w", initial_value=to_tensor(w)),
               pb.DenseVariable(name="b")]).SerializeToString()
    assert ours == theirs
    message = wire.decode_pull_message(theirs)
    assert [n for n, _ in message.tables] == ["t"] and message.dense[1] == ("b", None)
    assert message.dense[0][0] == "w"
    np.testing.assert_array_equal(message.dense[0][1], w)

    rows = [rng.standard_normal((5, 8)).astype(np.float32)]
    ours = wire.encode_pull_response(rows, [w, b], [3, 2**40])
    theirs = pb.PullResponse(embeddings=[to_tensor(rows[0])],
                             dense_values=[to_tensor(w), to_tensor(b)],
                             dense_update_counts=[3, 2**40]).SerializeToString()
    assert ours == theirs
    answer = wire.decode_pull_answer(theirs)
    np.testing.assert_array_equal(answer.embeddings[0], rows[0])
    np.testing.assert_array_equal(answer.dense_values[0], w)
    np.testing.assert_array_equal(answer.dense_values[1], b)
    assert answer.dense_update_counts == [3, 2**40]
    assert wire.decode_pull_answer(wire.encode_pull_response(rows)).dense_values == []

    push = wire.PushMessage([wire.TablePush("t", tables[0][1], rows[0])], 9, 4,
                            dense=[("w", w), ("b", b)])
    ours = wire.encode_push_request(push)
    theirs = pb.PushRequest(
        tables=[pb.TableGradients(table="t", ids=to_tensor(tables[0][1]),
                                  gradients=to_tensor(rows[0]))],
        timestamp_s=9, global_step=4,
        dense_gradients=[pb.DenseGradient(name="w", gradient=to_tensor(w)),
                         pb.DenseGradient(name="b", gradient=to_tensor(b))]).SerializeToString()
    assert ours == theirs
    decoded = wire.decode_push_request(theirs)
    assert [n for n, _ in decoded.dense] == ["w", "b"]
    np.testing.assert_array_equal(decoded.dense[0][1], w)
    np.testing.assert_array_equal(decoded.dense[1][1], b)


def test_unpacked_update_counts_are_read():
    unpacked = b"".join(bytes([3 << 3, c]) for c in (5, 7))  # field 3, varint, unpacked
    assert wire.decode_pull_answer(unpacked).dense_update_counts == [5, 7]


def test_decoded_tensors_are_views_not_copies():
    ids = np.arange(1000, dtype=np.int64)
    data = wire.encode_pull_request([("t", ids)])
    (_, got), = wire.decode_pull_request(data)
    assert not got.flags.owndata and not got.flags.writeable


def test_decoder_accepts_unknown_fields_and_unpacked_shape():
    tensor = tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_INT64, data=np.arange(6, dtype="<i8").tobytes())
    body = tensor.SerializeToString()
    body += bytes([0x10, 2, 0x10, 3])  # shape as two unpacked varints: [2, 3]
    table_ids = b"\x0a\x01t" + b"\x12" + bytes([len(body)]) + body + b"\x78\x05"  # + field 15
    request = b"\x0a" + bytes([len(table_ids)]) + table_ids + b"\xa0\x06\x01"  # + field 100
    (name, ids), = wire.decode_pull_request(request)
    assert name == "t" and ids.shape == (2, 3)


_OVERLONG = b"\x0a" + b"\xff" * 11


@pytest.mark.parametrize("payload", [b"\x0a\x05ab", b"\x0a", _OVERLONG, b"\x0b\x00", b"\x00\x01"])
def test_malformed_bytes_are_invalid_argument(payload):
    with pytest.raises(InvalidArgument):
        wire.decode_pull_request(payload)
    with pytest.raises(InvalidArgument):
        wire.decode_push_request(payload)


def test_length_mismatch_names_the_field():
    bad = pb.PullRequest(tables=[pb.TableIds(table="user", ids=tensor_pb2.Tensor(
        dtype=tensor_pb2.DTYPE_INT64, shape=[3], data=b"\x00" * 16))]).SerializeToString()
    with pytest.raises(InvalidArgument, match="table 'user': ids"):
        wire.decode_pull_request(bad)
