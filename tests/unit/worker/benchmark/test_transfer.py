"""Transport baselines move exactly the bytes of the Pull and Push they stand beside."""

import numpy as np
import pytest

from ps_server.config import PullDType
from services import wire
from services.pb import diagnostics_pb2 as dpb
from services.pb import parameter_server_pb2 as pb
from worker.benchmark.config import Direction
from worker.benchmark.transfer import Exchange, exchanges, transfer_request
from worker.benchmark.types import TableSpec, Target


@pytest.mark.parametrize("request_bytes", [100, 127, 128, 130, 16_385, 4_718_612])
@pytest.mark.parametrize("reply_bytes", [0, 3, 20, 129, 16_386, 4_194_325])
def test_transfer_messages_have_the_planned_sizes(request_bytes, reply_bytes):
    """Exact, or one byte short where a length prefix would grow by a byte."""
    request = transfer_request(Exchange(0, request_bytes, reply_bytes))
    reply = dpb.TransferResponse(payload=bytes(request.reply_bytes))
    assert 0 <= request_bytes - len(request.SerializeToString()) <= 1
    assert 0 <= reply_bytes - len(reply.SerializeToString()) <= 1


def test_one_shard_exchanges_match_the_pull_and_push_messages():
    rng = np.random.default_rng(0)
    ids = (rng.choice(1 << 40, 3000, replace=False).astype(np.int64),
           rng.choice(1 << 40, 3000, replace=False).astype(np.int64))
    grads = (np.zeros((3000, 16), np.float32), np.zeros((3000, 8), np.float32))
    target = Target(("h:1",), (TableSpec("a", 16), TableSpec("b", 8, PullDType.FP16)))
    pull = wire.encode_pull_request([("a", ids[0]), ("b", ids[1])])
    rows = wire.encode_pull_response([np.zeros((3000, 16), np.float32),
                                      np.zeros((3000, 8), np.float16)])
    assert exchanges(target, [ids], grads, Direction.PULL) == [Exchange(0, len(pull), len(rows))]
    push = wire.encode_push_request(wire.PushMessage(
        [wire.TablePush("a", ids[0], grads[0]), wire.TablePush("b", ids[1], grads[1])]))
    reply = pb.PushResponse(results=[pb.PushResult(table="a", applied=3000),
                                     pb.PushResult(table="b", applied=3000)])
    assert exchanges(target, [ids], grads, Direction.PUSH) == [
        Exchange(0, len(push), reply.ByteSize())]


def test_shards_split_the_bytes():
    ids = (np.arange(10_000, dtype=np.int64),)
    one = Target(("h:1",), (TableSpec("a", 16),))
    three = Target(("h:1", "h:2", "h:3"), (TableSpec("a", 16),))
    whole = exchanges(one, [ids], (np.zeros((10_000, 16), np.float32),), Direction.PULL)
    parts = exchanges(three, [ids], (np.zeros((10_000, 16), np.float32),), Direction.PULL)
    assert [p.shard for p in parts] == [0, 1, 2]
    total = sum(p.reply_bytes for p in parts)
    assert abs(total - whole[0].reply_bytes) < 100
