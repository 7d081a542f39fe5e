"""Bad requests get the right status and a message naming the problem; nothing changes."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from services.pb import parameter_server_pb2 as pb
from services.pb import tensor_pb2
from services.tensors import from_tensor, to_tensor
from tests.integration.rpc import RawPS

INV, NF = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
DIM = 4


def _tensor(dtype, shape, data):
    return tensor_pb2.Tensor(dtype=dtype, shape=shape, data=data)


def _ids_t(ids):
    return to_tensor(np.asarray(ids, np.int64))


def _grads_t(n, dim=DIM, value=1.0, dtype=np.float32):
    return to_tensor(np.full((n, dim), value, dtype))


def _push(*tables, timestamp_s=0, global_step=0):
    return pb.PushRequest(tables=list(tables), timestamp_s=timestamp_s,
                          global_step=global_step).SerializeToString()


def _tg(table="emb", ids=(1, 2), grads=None, counts=None):
    msg = pb.TableGradients(table=table, ids=_ids_t(ids),
                            gradients=grads if grads is not None else _grads_t(len(ids)))
    if counts is not None:
        msg.counts.CopyFrom(counts)
    return msg


def _pull(*pairs):
    return pb.PullRequest(tables=[pb.TableIds(table=t, ids=i) for t, i in pairs]).SerializeToString()


# (name, method, request bytes or message, expected code, words the message must contain)
BAD = [
    ("pull unknown table", "pull", _pull(("nope", _ids_t([1]))), NF, ["nope"]),
    ("push unknown table", "push", _push(_tg(table="nope")), NF, ["nope"]),
    ("pull float ids", "pull",
     _pull(("emb", to_tensor(np.array([1.0, 2.0], np.float32)))), INV, ["emb", "ids", "dtype"]),
    ("pull 2-d ids", "pull", _pull(("emb", to_tensor(np.ones((2, 2), np.int64)))), INV,
     ["emb", "ids"]),
    ("pull ids bytes do not match shape", "pull",
     _pull(("emb", _tensor(tensor_pb2.DTYPE_INT64, [3], b"\0" * 16))), INV, ["emb", "ids", "bytes"]),
    ("pull unknown dtype code", "pull", _pull(("emb", _tensor(99, [1], b"\0" * 8))), INV,
     ["emb", "ids", "dtype"]),
    ("pull over the id limit", "pull", _pull(("emb", _ids_t(np.arange(1001)))), INV,
     ["emb", "1001", "limit"]),
    ("pull malformed bytes", "pull", b"\x0a\x09\x0a\x03emb", INV, ["malformed"]),
    ("push float64 gradients", "push", _push(_tg(grads=_grads_t(2, dtype=np.float64))), INV,
     ["emb", "gradients"]),
    ("push wrong dim", "push", _push(_tg(grads=_grads_t(2, dim=DIM + 1))), INV,
     ["emb", "gradients", str(DIM)]),
    ("push 1-d gradients", "push", _push(_tg(grads=to_tensor(np.ones(2, np.float32)))), INV,
     ["emb", "gradients"]),
    ("push ids/gradients length mismatch", "push", _push(_tg(ids=(1, 2, 3), grads=_grads_t(2))),
     INV, ["emb", "gradients"]),
    ("push NaN gradient", "push", _push(_tg(grads=_grads_t(2, value=np.nan))), INV,
     ["emb", "gradients", "NaN"]),
    ("push Inf gradient", "push", _push(_tg(grads=_grads_t(2, value=np.inf))), INV,
     ["emb", "gradients", "NaN"]),
    ("push counts wrong length", "push", _push(_tg(counts=_ids_t([1, 1, 1]))), INV,
     ["emb", "counts"]),
    ("push negative counts", "push", _push(_tg(counts=_ids_t([1, -1]))), INV, ["emb", "counts"]),
    ("push float counts", "push", _push(_tg(counts=to_tensor(np.ones(2, np.float32)))), INV,
     ["emb", "counts"]),
    ("push over the id limit", "push",
     _push(_tg(ids=np.arange(1001), grads=_grads_t(1001))), INV, ["emb", "1001", "limit"]),
    ("push one good and one bad table", "push",
     _push(_tg(table="other", ids=(7,), grads=_grads_t(1)), _tg(grads=_grads_t(2, value=np.nan))),
     INV, ["emb", "gradients", "NaN"]),
    ("push the same table twice", "push", _push(_tg(), _tg()), INV, ["emb", "twice"]),
    ("push negative timestamp", "push", _push(_tg(), timestamp_s=-5), INV, ["timestamp_s"]),
    ("push truncated message", "push", _push(_tg())[:-7], INV, ["malformed"]),
    ("dense wrong initial dtype", "pull_dense",
     pb.PullDenseRequest(variables=[pb.DenseVariable(
         name="fresh", initial_value=to_tensor(np.ones(3, np.float64)))]), INV, ["fresh"]),
    ("dense unknown variable", "push_dense", pb.PushDenseRequest(gradients=[pb.DenseGradient(
        name="ghost", gradient=to_tensor(np.ones(3, np.float32)))]), NF, ["ghost"]),
    ("dense wrong gradient shape", "push_dense", pb.PushDenseRequest(gradients=[pb.DenseGradient(
        name="w", gradient=to_tensor(np.ones(4, np.float32)))]), INV, ["w", "shape"]),
    ("dense NaN gradient", "push_dense", pb.PushDenseRequest(gradients=[pb.DenseGradient(
        name="w", gradient=to_tensor(np.full(3, np.nan, np.float32)))]), INV, ["w", "NaN"]),
    ("push with a NaN dense gradient", "push", pb.PushRequest(
        tables=[_tg()], dense_gradients=[pb.DenseGradient(
            name="w", gradient=to_tensor(np.full(3, np.nan, np.float32)))]).SerializeToString(),
     INV, ["w", "NaN"]),
    ("push with an unknown dense variable", "push", pb.PushRequest(
        tables=[_tg()], dense_gradients=[pb.DenseGradient(
            name="ghost", gradient=to_tensor(np.ones(3, np.float32)))]).SerializeToString(),
     NF, ["ghost"]),
    ("push with a dense variable twice", "push", pb.PushRequest(
        tables=[_tg()], dense_gradients=[pb.DenseGradient(
            name="w", gradient=to_tensor(np.ones(3, np.float32)))] * 2).SerializeToString(),
     INV, ["twice"]),
    ("sync push with dense gradients", "push", pb.PushRequest(
        tables=[_tg()], sync_replicas=1, global_step=1, dense_gradients=[pb.DenseGradient(
            name="w", gradient=to_tensor(np.ones(3, np.float32)))]).SerializeToString(),
     INV, ["dense_gradients", "PushDense"]),
    ("pull with an unknown dense variable", "pull", pb.PullRequest(
        tables=[pb.TableIds(table="emb", ids=_ids_t([1]))],
        dense=[pb.DenseVariable(name="ghost")]).SerializeToString(), NF, ["ghost"]),
    ("inspect unknown table", "inspect",
     pb.InspectRowsRequest(table="nope", ids=_ids_t([1])), NF, ["nope"]),
    ("steal unknown table", "steal", pb.StealTouchedKeysRequest(table="nope"), NF, ["nope"]),
    ("evict unknown table", "evict", pb.EvictRequest(table="nope"), NF, ["nope"]),
]


def _snapshot(ps: RawPS, known: np.ndarray, dense_value_of):
    state = {}
    for name in ("emb", "other"):
        view = ps.inspect(name, known)
        state[name] = {k: v.tobytes() for k, v in view.items()}
        state[name]["rows"] = ps.info(name)[0].rows
    state["dense"] = dense_value_of().tobytes()
    return state


def test_bad_requests_are_rejected_and_change_nothing(ps_factory):
    tables = [{"name": n, "dim": DIM, "optimizer": {"type": "adagrad"},
               "initializer": {"type": "random_uniform", "seed": 1}} for n in ("emb", "other")]
    server, = ps_factory(tables, extra=["--max-ids-per-table", "1000"])
    ps = RawPS(server.address)
    known = np.arange(0, 400, 3, dtype=np.int64)
    ps.push("emb", known, np.random.default_rng(0).standard_normal((known.size, DIM)))
    ps.push("other", known[:50], np.ones((50, DIM)), timestamp_s=123)
    ps.stub.PullDense(pb.PullDenseRequest(variables=[pb.DenseVariable(
        name="w", initial_value=to_tensor(np.arange(3, dtype=np.float32)))]))
    for name in ("emb", "other"):
        ps.stub.StealTouchedKeys(pb.StealTouchedKeysRequest(table=name))

    def dense_value():
        reply = ps.stub.PullDense(pb.PullDenseRequest(variables=[pb.DenseVariable(name="w")]))
        return from_tensor(reply.values[0], "w")

    before = _snapshot(ps, np.concatenate([known, [7, 1, 2]]), dense_value)
    calls = {
        "pull": ps.raw_pull, "push": ps.raw_push, "pull_dense": ps.stub.PullDense,
        "push_dense": ps.stub.PushDense, "inspect": ps.stub.InspectRows,
        "steal": ps.stub.StealTouchedKeys, "evict": ps.stub.Evict,
    }
    assert len(BAD) >= 15
    wrong = []
    for name, method, request, code, words in BAD:
        with pytest.raises(grpc.RpcError) as err:
            calls[method](request, timeout=30)
        details = err.value.details() or ""
        if err.value.code() != code or not all(word in details for word in words):
            wrong.append(f"{name}: got {err.value.code().name} {details!r}, want {code.name} {words}")
    assert not wrong, "\n".join(wrong)

    assert _snapshot(ps, np.concatenate([known, [7, 1, 2]]), dense_value) == before
    for name in ("emb", "other"):
        stolen = ps.stub.StealTouchedKeys(pb.StealTouchedKeysRequest(table=name))
        assert from_tensor(stolen.ids, "ids").size == 0, f"{name} gained touched keys"
    np.testing.assert_array_equal(ps.pull("emb", [10**9]), np.zeros((1, DIM)))
    assert server.proc.poll() is None
