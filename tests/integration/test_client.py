"""The PS client against real PS processes: routing, scatter-back, filter counts, dense, errors."""

import asyncio

import grpc
import numpy as np
import pytest

from services.retry import RetryPolicy
from tests.procs import free_port
from worker import AsyncPSClient, PSClient, PSClientError, PushStats

_FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.01)

_TABLES = [
    {"name": "user", "dim": 4, "optimizer": {"type": "sgd", "learning_rate": 1.0},
     "initializer": {"type": "zeros"}},
    {"name": "item", "dim": 8, "optimizer": {"type": "sgd", "learning_rate": 1.0},
     "initializer": {"type": "zeros"}, "pull_dtype": "fp16"},
    {"name": "rare", "dim": 2, "optimizer": {"type": "sgd", "learning_rate": 1.0},
     "initializer": {"type": "zeros"}, "occurrence_threshold": 2},
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three real PS shards sharing one tables file; addresses in shard order."""
    import json

    from tests.procs import start_ps

    root = tmp_path_factory.mktemp("ps")
    tables = root / "tables.json"
    tables.write_text(json.dumps({"tables": _TABLES,
                                  "dense_optimizer": {"type": "sgd", "learning_rate": 1.0}}))
    servers = []
    try:
        for shard in range(3):
            servers.append(start_ps(root, tables, shard=shard, num_shards=3))
        yield [s.address for s in servers]
    finally:
        for server in servers:
            server.stop()


def test_pull_of_unseen_ids_is_zeros_in_server_dtype(cluster):
    with PSClient(cluster, retry=_FAST) as client:
        out = client.pull({"user": np.array([10_001, 10_002, 10_001]),
                           "item": np.arange(50_000, 50_100),
                           "rare": np.empty(0, np.int64)})
    assert out["user"].shape == (3, 4) and out["user"].dtype == np.float32
    assert out["item"].shape == (100, 8) and out["item"].dtype == np.float16
    assert out["rare"].shape == (0, 2)
    assert not out["user"].any() and not out["item"].any()


def test_push_sums_duplicates_and_pull_scatters_back(cluster):
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 200, size=1000, dtype=np.int64) + 1_000_000
    grads = rng.standard_normal((1000, 4)).astype(np.float32)
    uniq, inverse = np.unique(ids, return_inverse=True)
    summed = np.zeros((uniq.shape[0], 4), np.float32)
    np.add.at(summed, inverse, grads)

    async def body():
        async with AsyncPSClient(cluster, retry=_FAST) as client:
            stats = await client.push({"user": ids}, {"user": grads}, timestamp_s=1_700_000_000)
            rows = await client.pull({"user": ids[::-1]})
            view = await client.inspect_rows("user", np.array([uniq[0], -5, uniq[1]]))
            info = await client.table_info("user")
            touched = await client.steal_touched_keys("user")
            again = await client.steal_touched_keys("user")
            return stats, rows, view, info, touched, again

    stats, rows, view, info, touched, again = asyncio.run(body())
    n = uniq.shape[0]
    assert stats == {"user": PushStats(applied=n, filtered=0, created=n)}
    np.testing.assert_allclose(rows["user"], -summed[inverse][::-1], rtol=1e-5, atol=1e-5)
    assert view.found.tolist() == [True, False, True]
    np.testing.assert_allclose(view.embeddings[[0, 2]], -summed[:2], rtol=1e-5, atol=1e-5)
    assert view.last_update_s.tolist() == [1_700_000_000, 0, 1_700_000_000]
    assert sorted(i.shard for i in info) == [0, 1, 2] and sum(i.rows for i in info) >= n
    assert set(uniq.tolist()) <= set(touched.tolist()) and again.size == 0


def test_duplicate_counts_feed_the_occurrence_filter(cluster):
    """Threshold 2: an id is admitted once 2 occurrences were seen before the push."""
    ids = np.array([77, 77, 77, 88, 88], dtype=np.int64) + 2_000_000
    one = np.ones((2, 2), np.float32)
    with PSClient(cluster, retry=_FAST) as client:
        first = client.push({"rare": ids}, {"rare": np.ones((5, 2), np.float32)})
        second = client.push({"rare": ids[[0, 3]]}, {"rare": one})
        late = [client.push({"rare": np.array([2_000_099])}, {"rare": one[:1]})["rare"]
                for _ in range(3)]
        rows = client.pull({"rare": np.array([2_000_077, 2_000_088, 2_000_099])})["rare"]
    assert first["rare"] == PushStats(applied=0, filtered=2, created=0)
    assert second["rare"] == PushStats(applied=2, filtered=0, created=2)
    assert [s.applied for s in late] == [0, 0, 1]
    np.testing.assert_allclose(rows, -np.ones((3, 2)))


def test_client_retries_until_a_late_ps_comes_up(tmp_path):
    import json
    import threading

    from tests.procs import start_ps

    tables = tmp_path / "tables.json"
    tables.write_text(json.dumps({"tables": _TABLES}))
    port = free_port()
    started = []

    def start_later():
        started.append(start_ps(tmp_path, tables, port=port, wait=False))

    retry = RetryPolicy(max_attempts=60, initial_backoff_s=0.1, max_backoff_s=0.5)
    timer = threading.Timer(0.5, start_later)
    timer.start()
    try:
        with PSClient([f"127.0.0.1:{port}"], retry=retry) as client:
            out = client.pull({"user": np.array([1, 2])})
        assert out["user"].shape == (2, 4) and not out["user"].any()
    finally:
        timer.join()
        for server in started:
            server.stop()


def test_dense_variables_live_on_their_shard(cluster):
    names = [f"mlp/layer{i}" for i in range(6)]
    initial = {name: np.full((2, 3), i, np.float32) for i, name in enumerate(names)}
    with PSClient(cluster, retry=_FAST) as client:
        first = client.pull_dense(initial)
        counts = client.push_dense({name: np.ones((2, 3), np.float32) for name in names})
        after = client.pull_dense({name: None for name in names})
    for name in names:
        np.testing.assert_array_equal(first[name], initial[name])
        np.testing.assert_allclose(after[name], initial[name] - 1.0)
    assert counts == {name: 1 for name in names}
    assert list(after) == names


def test_server_errors_carry_code_peer_and_method(cluster):
    with PSClient(cluster, retry=_FAST) as client:
        with pytest.raises(PSClientError) as err:
            client.pull({"nope": np.array([1, 2, 3])})
        assert client.evict() >= 0
    assert err.value.code == grpc.StatusCode.NOT_FOUND
    assert err.value.method == "Pull" and err.value.peer in cluster
    assert "'nope'" in str(err.value)


def test_without_client_dedup_results_are_the_same(cluster):
    """dedup=False skips the client's dedup: distinct ids route as usual, and duplicates
    still come out right because the PS sums duplicate pushes and answers every pulled id."""
    distinct = np.arange(5_000_000, 5_000_300, dtype=np.int64)
    grads = np.random.default_rng(3).standard_normal((300, 4)).astype(np.float32)
    with PSClient(cluster, retry=_FAST) as client:
        stats = client.push({"user": distinct}, {"user": grads}, dedup=False)
        assert stats["user"] == PushStats(applied=300, filtered=0, created=300)
        np.testing.assert_allclose(client.pull({"user": distinct[::-1]}, dedup=False)["user"],
                                   -grads[::-1], rtol=1e-6)
        twice = np.array([6_000_001, 6_000_002, 6_000_001], np.int64)
        client.push({"user": twice}, {"user": np.ones((3, 4), np.float32)}, dedup=False)
        rows = client.pull({"user": twice}, dedup=False)["user"]
    np.testing.assert_allclose(rows, [[-2] * 4, [-1] * 4, [-2] * 4])


def test_pull_and_push_with_dense_match_the_separate_calls(cluster):
    names = [f"mlp/with_dense{i}" for i in range(5)]
    initial = {name: np.full((3,), i, np.float32) for i, name in enumerate(names)}
    ids = {"user": np.arange(7_000_000, 7_000_050, dtype=np.int64)}
    grads = {"user": np.ones((50, 4), np.float32)}
    with PSClient(cluster, retry=_FAST) as client:
        rows, values = client.pull_with_dense(ids, initial)
        assert not rows["user"].any() and list(values) == names
        for name in names:
            np.testing.assert_array_equal(values[name], initial[name])
        stats, counts = client.push_with_dense(ids, grads, {n: np.ones(3, np.float32)
                                                            for n in names})
        assert stats["user"] == PushStats(applied=50, filtered=0, created=50)
        assert counts == {name: 1 for name in names}
        _, dense_only = client.pull_with_dense({}, dict.fromkeys(names))
        assert client.pull_dense(dict.fromkeys(names)).keys() == dense_only.keys()
        for name in names:
            np.testing.assert_allclose(dense_only[name], initial[name] - 1.0)
        bad = {n: np.ones(3, np.float32) for n in names}
        bad[names[0]] = np.array([1, np.nan, 1], np.float32)
        with pytest.raises(PSClientError) as err:
            client.push_with_dense(ids, grads, bad)
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
        rows, after = client.pull_with_dense(ids, dict.fromkeys(names))
    # the PS holding the bad variable changed neither its rows nor its variables
    assert np.isin(rows["user"], [-1.0, -2.0]).all()
    np.testing.assert_allclose(after[names[0]], initial[names[0]] - 1.0)


class _PredatingDenseFields:
    """A real PS behind a proxy that drops the dense fields of Pull and Push requests, as a
    PS built before them ignores them."""

    def __init__(self, target: str):
        from concurrent import futures

        self.channel = grpc.insecure_channel(target)
        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            "monolith_ps.v1.ParameterServer",
            {m: self._forward(m) for m in ("Pull", "Push", "PullDense", "PushDense")})])
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    def _forward(self, method):
        from services.pb import parameter_server_pb2 as pb

        call = self.channel.unary_unary(f"/monolith_ps.v1.ParameterServer/{method}")
        strip = {"Pull": (pb.PullRequest, "dense"), "Push": (pb.PushRequest, "dense_gradients")}

        def handle(request: bytes, context):
            if method in strip:
                message_type, field = strip[method]
                message = message_type.FromString(request)
                message.ClearField(field)
                request = message.SerializeToString()
            return call(request, timeout=30)

        return grpc.unary_unary_rpc_method_handler(handle)

    def close(self):
        self.server.stop(None)
        self.channel.close()


def test_with_dense_falls_back_to_dense_rpcs_on_an_older_ps(cluster):
    proxies = [_PredatingDenseFields(address) for address in cluster]
    names = [f"mlp/older{i}" for i in range(5)]
    initial = {name: np.full((2,), i, np.float32) for i, name in enumerate(names)}
    ids = {"user": np.arange(8_000_000, 8_000_030, dtype=np.int64)}
    try:
        with PSClient([p.address for p in proxies], retry=_FAST) as client:
            _, values = client.pull_with_dense(ids, initial)
            stats, counts = client.push_with_dense(ids, {"user": np.ones((30, 4), np.float32)},
                                                   {n: np.ones(2, np.float32) for n in names})
            _, after = client.pull_with_dense(ids, dict.fromkeys(names))
    finally:
        for proxy in proxies:
            proxy.close()
    assert stats["user"].applied == 30 and counts == {name: 1 for name in names}
    for name in names:
        np.testing.assert_array_equal(values[name], initial[name])
        np.testing.assert_allclose(after[name], initial[name] - 1.0)
