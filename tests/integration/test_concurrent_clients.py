"""Many client processes pushing at once lose no update."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from worker import PSClient

DIM = 8


def _pusher(addresses, ids, rounds, barrier):
    with PSClient(addresses) as client:
        barrier.wait()
        grads = np.ones((ids.size, DIM), np.float32)
        for _ in range(rounds):
            client.push({"t": ids}, {"t": grads})


def test_four_processes_pushing_overlapping_ids_lose_no_update(ps_factory):
    servers = ps_factory([{"name": "t", "dim": DIM, "optimizer": {"type": "sgd", "learning_rate": 1.0},
                           "initializer": {"type": "zeros"}}], num_shards=2)
    addresses = [s.address for s in servers]
    rounds, procs = 25, 4
    common = np.arange(0, 20_000, dtype=np.int64)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    # each process pushes the common ids plus a slice that overlaps its neighbour's
    own = [np.concatenate([common, np.arange(100_000 + 5_000 * p, 100_000 + 5_000 * p + 10_000)])
           for p in range(procs)]
    workers = [ctx.Process(target=_pusher, args=(addresses, own[p], rounds, barrier))
               for p in range(procs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
        assert w.exitcode == 0
    expected: dict[int, int] = {}
    for ids in own:
        for i in ids.tolist():
            expected[i] = expected.get(i, 0) + rounds
    keys = np.fromiter(expected, dtype=np.int64)
    want = -np.array([expected[k] for k in keys.tolist()], np.float32)
    with PSClient(addresses) as client:
        rows = client.pull({"t": keys})["t"]
    np.testing.assert_array_equal(rows, np.repeat(want[:, None], DIM, axis=1))
    assert want.min() == -procs * rounds  # the common ids got every process's updates
