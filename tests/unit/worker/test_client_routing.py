"""PS client: routing and scatter-back as pure functions; typed errors on a dead address."""

import asyncio

import grpc
import numpy as np
import pytest

from services.keys import shard_of, shard_of_name
from services.retry import RetryPolicy
from tests.procs import free_port
from worker import AsyncPSClient, PSClient, PSClientError
from worker.client.routing import as_ids, assign_tables, group_names, route_table

_FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.01)


def _rows_of(ids: np.ndarray, dim: int = 3) -> np.ndarray:
    """A deterministic stand-in for a shard's reply: row of id k is k * [1, 2, ..., dim]."""
    return ids.astype(np.float32)[:, None] * np.arange(1, dim + 1, dtype=np.float32)


# -- pure routing ---------------------------------------------------------------


@pytest.mark.parametrize("num_shards", [1, 2, 3, 7])
def test_route_table_dedups_and_groups_by_shard(num_shards):
    ids = np.random.default_rng(num_shards).integers(-1000, 1000, size=5000, dtype=np.int64)
    route = route_table("user", ids, num_shards)
    assert route.size == 5000 and route.num_unique == np.unique(ids).shape[0]
    np.testing.assert_array_equal(route.uniq[route.inverse], ids)
    assert route.bounds[0] == 0 and route.bounds[-1] == route.num_unique
    assert np.all(np.diff(route.bounds) >= 0)
    for s in range(num_shards):
        assert np.all(shard_of(route.shard_ids(s), num_shards) == s)
    assert route.shards() == [s for s in range(num_shards) if route.shard_ids(s).size]


def test_gather_puts_shard_replies_back_in_request_order():
    ids = np.array([5, 9, 5, 12, 7, 9, 9, 100, -3], dtype=np.int64)
    route = route_table("item", ids, 3)
    parts = [_rows_of(route.shard_ids(s)) for s in route.shards()]
    for part in parts:
        part.setflags(write=False)
    out = route.gather(parts)
    np.testing.assert_array_equal(out, _rows_of(ids))
    assert out.flags.writeable
    with_empty = [_rows_of(route.shard_ids(s)) for s in range(3)]
    np.testing.assert_array_equal(route.gather(with_empty), _rows_of(ids))


def test_gather_rejects_wrong_row_count():
    route = route_table("item", np.arange(10), 2)
    with pytest.raises(ValueError, match="'item'"):
        route.gather([np.zeros((3, 4), np.float32)])


def test_sum_rows_and_counts_match_np_add_at():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 30, size=400, dtype=np.int64)
    grads = rng.standard_normal((400, 4)).astype(np.float32)
    route = route_table("user", ids, 3)
    position = {int(k): i for i, k in enumerate(route.uniq)}
    expected = np.zeros((route.num_unique, 4), np.float32)
    np.add.at(expected, [position[int(k)] for k in ids], grads)
    np.testing.assert_allclose(route.sum_rows(grads), expected, rtol=1e-5, atol=1e-6)
    occurrences = np.array([np.sum(ids == k) for k in route.uniq])
    np.testing.assert_array_equal(route.sum_counts(None), occurrences)
    weights = rng.integers(1, 5, size=400)
    expected_weights = np.array([weights[ids == k].sum() for k in route.uniq])
    np.testing.assert_array_equal(route.sum_counts(weights), expected_weights)


def test_empty_table_goes_to_shard_zero_and_busy_shards_only():
    empty = route_table("empty", np.empty(0, np.int64), 3)
    assert empty.num_unique == 0 and empty.shards() == []
    assert empty.gather([np.zeros((0, 8), np.float16)]).shape == (0, 8)
    only_on_2 = next(k for k in range(100) if shard_of(np.array([k]), 3)[0] == 2)
    lone = route_table("lone", np.array([only_on_2, only_on_2]), 3)
    assert assign_tables([empty, lone], 3) == {0: [0], 2: [1]}
    assert assign_tables([lone], 3) == {2: [0]}
    assert assign_tables([], 3) == {}


def test_group_names_follows_shard_of_name():
    names = [f"dense/layer{i}" for i in range(20)]
    plan = group_names(names, 3)
    assert sorted(n for group in plan.values() for n in group) == sorted(names)
    for shard, group in plan.items():
        assert all(shard_of_name(n, 3) == shard for n in group)


def test_as_ids_validates_with_table_name():
    assert as_ids("t", []).dtype == np.int64
    np.testing.assert_array_equal(as_ids("t", np.array([1, 2], np.int32)), [1, 2])
    with pytest.raises(ValueError, match="'user'.*1-d"):
        as_ids("user", np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match="'user'.*integers"):
        as_ids("user", np.array([1.5]))


# -- client without a server ---------------------------------------------------


def test_client_validates_arguments_before_any_call():
    async def body():
        async with AsyncPSClient(["127.0.0.1:1"], retry=_FAST) as client:
            ids = {"user": np.array([1, 2, 3])}
            with pytest.raises(ValueError, match="'user'.*grads"):
                await client.push(ids, {"user": np.zeros((2, 4), np.float32)})
            with pytest.raises(ValueError, match="missing \\['user'\\]"):
                await client.push(ids, {"item": np.zeros((3, 4), np.float32)})
            with pytest.raises(ValueError, match="'user'.*counts"):
                await client.push(ids, {"user": np.zeros((3, 4), np.float32)},
                                  counts={"user": np.array([1, 1])})
            with pytest.raises(ValueError, match="'user'.*floating"):
                await client.push(ids, {"user": np.zeros((3, 4), np.int64)})
            assert await client.pull({}) == {}

    asyncio.run(body())
    with pytest.raises(ValueError, match="addresses"):
        AsyncPSClient([])
    with pytest.raises(ValueError, match="timeout_s"):
        AsyncPSClient(["127.0.0.1:1"], timeout_s=0)


def test_unreachable_ps_raises_typed_error_after_retries():
    address = f"127.0.0.1:{free_port()}"
    with PSClient(["127.0.0.1:1", address], timeout_s=5, retry=_FAST) as client:
        assert client.num_ps == 2
        with pytest.raises(PSClientError) as err:
            client.evict()
    error = err.value
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert error.method == "Evict" and error.peer in ("127.0.0.1:1", address)
    assert error.peer in str(error) and "Evict" in str(error)


def test_blocking_client_close_is_idempotent_and_final():
    client = PSClient(["127.0.0.1:1"], retry=_FAST)
    client.close()
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.pull({"user": np.array([1])})


@pytest.mark.parametrize("num_shards", [1, 3])
def test_route_without_dedup_keeps_every_id_and_scatters_back(num_shards):
    ids = np.array([9, 4, 9, 1, 7], np.int64)
    route = route_table("t", ids, num_shards, dedup=False)
    assert route.size == route.num_unique == 5
    assert sorted(route.uniq.tolist()) == sorted(ids.tolist())
    parts = [_rows_of(route.shard_ids(s)) for s in route.shards()]
    np.testing.assert_array_equal(route.gather(parts), _rows_of(ids))
    values = np.arange(10, dtype=np.float32).reshape(5, 2)
    summed = route.sum_rows(values)
    np.testing.assert_array_equal(route.gather([summed[route.shard_slice(s)]
                                                for s in route.shards()]), values)
