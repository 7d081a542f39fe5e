"""Shard save and restore in process: exact round trips, re-sharding N -> M, torn files."""

import json
from pathlib import Path

import numpy as np
import pytest

from ps_server.checkpoint import IncompatibleCheckpoint, ShardSaver, restore_latest, restore_shard
from ps_server.config import OptimizerConfig, TablesConfig
from ps_server.dense import DenseStore
from ps_server.shard_format import CorruptFile, FileDigest, read_arrays, write_arrays
from ps_server.table import EmbeddingTable
from services import checkpoints
from services.checkpoints import CheckpointError, Retention
from services.keys import shard_of, shard_of_name
from services.pb import checkpoint_pb2

EXAMPLE = Path(__file__).resolve().parents[3] / "ps_server" / "examples" / "tables.json"
DENSE_NAMES = [f"dense_{i}" for i in range(7)]


def _config() -> TablesConfig:
    return TablesConfig.load(EXAMPLE)


def _empty_shard(config: TablesConfig):
    return {t.name: EmbeddingTable(t) for t in config.tables}, DenseStore(config.dense_optimizer)


def _trained_cluster(num_shards: int, seed: int = 0):
    """num_shards shards of a table set after a few pushes routed like the client routes."""
    config = _config()
    rng = np.random.default_rng(seed)
    shards = [_empty_shard(config) for _ in range(num_shards)]
    for step in range(1, 4):
        for t in config.tables:
            ids = rng.integers(-10**12, 10**12, size=3000, dtype=np.int64)
            grads = rng.standard_normal((ids.shape[0], t.dim)).astype(np.float32)
            owner = shard_of(ids, num_shards)
            for s, (tables, _) in enumerate(shards):
                mine = owner == s
                tables[t.name].apply_gradients(ids[mine], grads[mine], timestamp_s=1000 + step)
        for name in DENSE_NAMES:
            _, dense = shards[shard_of_name(name, num_shards)]
            value = np.full((3, 4), 0.5, dtype=np.float32)
            dense.pull(name, value)
            dense.push(name, rng.standard_normal((3, 4)).astype(np.float32))
    return config, shards


def _save(tmp_path: Path, shards, step: int = 30) -> Path:
    ckpt = tmp_path / checkpoints.checkpoint_name(step)
    for s, (tables, dense) in enumerate(shards):
        ShardSaver(tables, dense, s, len(shards)).save(ckpt, step)
    return ckpt


def _all_rows(shards) -> dict[str, dict[int, tuple]]:
    out = {}
    for tables, _ in shards:
        for name, table in tables.items():
            rows = table.export()
            for i, ident in enumerate(rows.ids.tolist()):
                out.setdefault(name, {})[ident] = (rows.embeddings[i].tobytes(),
                                                   rows.slots[i].tobytes(),
                                                   int(rows.last_update_s[i]))
    return out


def _all_dense(shards) -> dict[str, tuple]:
    out = {}
    for _, dense in shards:
        for name, updates, state in dense.snapshot():
            out[name] = (updates, {k: v.tobytes() for k, v in state.items()})
    return out


@pytest.mark.parametrize("saved, restored", [(3, 3), (3, 2), (3, 4), (1, 3)])
def test_restore_onto_any_shard_count_gives_back_every_row_slot_and_dense_variable(
        tmp_path, saved, restored):
    config, shards = _trained_cluster(saved)
    ckpt = _save(tmp_path, shards)
    targets = [_empty_shard(config) for _ in range(restored)]
    for s, (tables, dense) in enumerate(targets):
        restore_shard(ckpt, tables, dense, s, restored)
        for name, table in tables.items():
            ids = table.export().ids
            assert np.all(shard_of(ids, restored) == s), name
        assert all(shard_of_name(n, restored) == s for n in dense.names())
    assert _all_rows(targets) == _all_rows(shards)
    assert _all_dense(targets) == _all_dense(shards)
    assert sum(len(r) for r in _all_rows(shards).values()) > 10000


def test_restored_tables_keep_training_like_the_originals(tmp_path):
    config, shards = _trained_cluster(2)
    ckpt = _save(tmp_path, shards)
    restored = [_empty_shard(config) for _ in range(2)]
    for s, (tables, dense) in enumerate(restored):
        restore_shard(ckpt, tables, dense, s, 2)
    for cluster in (shards, restored):
        ids = np.arange(100, dtype=np.int64)
        grads = np.random.default_rng(5).standard_normal((100, 16)).astype(np.float32)
        owner = shard_of(ids, 2)
        for s, (tables, _) in enumerate(cluster):
            tables["user"].apply_gradients(ids[owner == s], grads[owner == s], timestamp_s=2000)
        _, dense = cluster[shard_of_name("dense_0", 2)]
        dense.push("dense_0", np.ones((3, 4), dtype=np.float32))
    assert _all_rows(restored) == _all_rows(shards)
    assert _all_dense(restored) == _all_dense(shards)


def test_shampoo_dense_state_round_trips(tmp_path):
    config = _config()
    shampoo = OptimizerConfig.from_dict({"type": "shampoo", "learning_rate": 0.1})
    dense = DenseStore(shampoo)
    dense.pull("w", np.ones((4, 3), dtype=np.float32))
    for i in range(3):
        dense.push("w", np.full((4, 3), 0.1 * (i + 1), dtype=np.float32))
    tables, _ = _empty_shard(config)
    ckpt = tmp_path / "model.ckpt-3"
    ShardSaver(tables, dense, 0, 1).save(ckpt, 3)
    again = DenseStore(shampoo)
    restore_shard(ckpt, _empty_shard(config)[0], again, 0, 1)
    for store in (dense, again):
        store.push("w", np.full((4, 3), 0.2, dtype=np.float32))
    np.testing.assert_array_equal(again.pull("w"), dense.pull("w"))
    assert again.update_count("w") == dense.update_count("w") == 4


def test_shard_format_detects_truncation_corruption_and_foreign_files(tmp_path):
    path = tmp_path / "f.bin"
    arrays = {"a": np.arange(1000, dtype=np.int64), "b": np.ones((7, 3), dtype=np.float32)}
    digest = write_arrays(path, {"k": 1}, arrays)
    meta, back = read_arrays(path, digest)
    assert meta == {"k": 1}
    for name, value in arrays.items():
        np.testing.assert_array_equal(back[name], value)
        assert back[name].dtype == value.dtype
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFile, match="CRC32"):
        read_arrays(path, digest)
    path.write_bytes(bytes(data[:-10]))
    with pytest.raises(CorruptFile, match="truncated"):
        read_arrays(path, digest)
    path.write_bytes(b"x" * 100)
    import zlib
    with pytest.raises(CorruptFile, match="not a shard file"):
        read_arrays(path, FileDigest(100, zlib.crc32(b"x" * 100)))


KEEP_ALL = Retention(max_to_keep=0)


def _commit(model_dir: Path, ckpt: Path, num_shards: int, retention=KEEP_ALL, now=None):
    (ckpt / checkpoints.CKPT_META).write_text(json.dumps({"num_shards": num_shards}))
    info = checkpoint_pb2.CheckpointInfo(step=checkpoints.step_of(ckpt), num_shards=num_shards)
    return checkpoints.commit(model_dir, ckpt, info, retention, now=now)


def test_restore_latest_skips_torn_and_uncommitted_checkpoints(tmp_path, caplog):
    config, shards = _trained_cluster(2)
    good = _save(tmp_path, shards, step=10)
    _commit(tmp_path, good, 2)
    tables0, dense0 = shards[0]
    tables0["user"].apply_gradients(np.array([1, 2, 3], dtype=np.int64),
                                    np.ones((3, 16), dtype=np.float32), timestamp_s=5000)
    torn = _save(tmp_path, shards, step=20)
    _commit(tmp_path, torn, 2)
    (checkpoints.shard_dir(torn, 1, 2) / checkpoints.MANIFEST).unlink()
    uncommitted = _save(tmp_path, shards, step=30)
    assert uncommitted.exists()
    tables, dense = _empty_shard(config)
    chosen = restore_latest(tmp_path, tables, dense, 0, 2)
    assert chosen == good
    assert "model.ckpt-20" in caplog.text and "never finished its save" in caplog.text
    want = _trained_cluster(2)[1][0][0]["user"].export()
    assert np.array_equal(np.sort(tables["user"].export().ids), np.sort(want.ids))


def test_a_corrupted_shard_file_falls_back_to_the_previous_checkpoint(tmp_path, caplog):
    config, shards = _trained_cluster(1)
    first = _save(tmp_path, shards, step=10)
    _commit(tmp_path, first, 1)
    second = _save(tmp_path, shards, step=20)
    _commit(tmp_path, second, 1)
    victim = checkpoints.shard_dir(second, 0, 1) / "table-0.bin"
    data = bytearray(victim.read_bytes())
    data[-5] ^= 0x01
    victim.write_bytes(bytes(data))
    tables, dense = _empty_shard(config)
    assert restore_latest(tmp_path, tables, dense, 0, 1) == first
    assert "CRC32" in caplog.text


def test_incompatible_tables_refuse_to_restore(tmp_path):
    config, shards = _trained_cluster(1)
    ckpt = _save(tmp_path, shards)
    _commit(tmp_path, ckpt, 1)
    data = config.to_dict()
    data["tables"][0]["dim"] = 8
    other = TablesConfig.from_dict(data)
    tables, dense = _empty_shard(other)
    with pytest.raises(IncompatibleCheckpoint, match="dim 16"):
        restore_latest(tmp_path, tables, dense, 0, 1)


def test_no_checkpoint_restores_nothing(tmp_path):
    tables, dense = _empty_shard(_config())
    assert restore_latest(tmp_path, tables, dense, 0, 1) is None
    with pytest.raises(CheckpointError):
        checkpoints.shard_count(tmp_path / "model.ckpt-1")
