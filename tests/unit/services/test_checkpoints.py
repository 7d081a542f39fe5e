"""services/checkpoints: state files, commit order, retention, validation, restore_from."""

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from ps_server.checkpoint import ShardSaver
from ps_server.config import TablesConfig
from ps_server.dense import DenseStore
from ps_server.table import EmbeddingTable
from services import checkpoints
from services.checkpoints import CheckpointError, Retention
from services.pb import checkpoint_pb2 as pb

EXAMPLE = Path(__file__).resolve().parents[3] / "ps_server" / "examples" / "tables.json"
KEEP_ALL = Retention(max_to_keep=0)


def _fake_ckpt(model_dir: Path, step: int, num_shards: int = 2, payload: bytes = b"rows",
               meta: bool = True) -> Path:
    """A checkpoint dir with minimal shard manifests (one data file per shard)."""
    ckpt = model_dir / checkpoints.checkpoint_name(step)
    for i in range(num_shards):
        d = checkpoints.shard_dir(ckpt, i, num_shards)
        d.mkdir(parents=True)
        data = payload + bytes([i])
        (d / "table-0.bin").write_bytes(data)
        (d / checkpoints.MANIFEST).write_text(json.dumps(
            {"shard": i, "num_shards": num_shards, "step": step,
             "files": {"table-0.bin": {"bytes": len(data), "crc32": zlib.crc32(data)}}}))
    if meta:
        (ckpt / checkpoints.CKPT_META).write_text(json.dumps({"num_shards": num_shards,
                                                              "step": step}))
    return ckpt


def _commit(model_dir: Path, ckpt: Path, retention: Retention = KEEP_ALL, now: float = 0.0):
    info = pb.CheckpointInfo(step=checkpoints.step_of(ckpt),
                             num_shards=checkpoints.shard_count(ckpt))
    return checkpoints.commit(model_dir, ckpt, info, retention, now=now)


def _names(paths) -> list[str]:
    return [Path(p).name for p in paths]


def _real_ckpt(model_dir: Path, step: int) -> Path:
    """A checkpoint written by ShardSaver (one shard of the example tables, a few rows)."""
    config = TablesConfig.load(EXAMPLE)
    tables = {t.name: EmbeddingTable(t) for t in config.tables}
    dense = DenseStore(config.dense_optimizer)
    ids = np.arange(step, step + 50, dtype=np.int64)
    tables["user"].apply_gradients(ids, np.ones((50, 16), dtype=np.float32), timestamp_s=step)
    dense.pull("w", np.ones((2, 2), dtype=np.float32))
    ckpt = model_dir / checkpoints.checkpoint_name(step)
    ShardSaver(tables, dense, 0, 1).save(ckpt, step)
    (ckpt / checkpoints.CKPT_META).write_text(json.dumps({"num_shards": 1, "step": step}))
    return ckpt


def test_names_and_steps():
    assert checkpoints.checkpoint_name(30) == "model.ckpt-30"
    assert checkpoints.step_of("/x/model.ckpt-120") == 120
    for bad in ("model.ckpt", "model.ckpt-", "model.ckpt-12x", "ckpt-3"):
        with pytest.raises(CheckpointError, match="not a checkpoint name"):
            checkpoints.step_of(bad)


def test_state_file_is_tf_style_text_format_naming_the_newest_commit(tmp_path):
    assert checkpoints.read_state(tmp_path) is None
    assert checkpoints.committed(tmp_path) == []
    for step in (10, 20, 30):
        _commit(tmp_path, _fake_ckpt(tmp_path, step), now=float(step))
    text = (tmp_path / checkpoints.STATE_FILE).read_text()
    assert 'model_checkpoint_path: "model.ckpt-30"' in text.splitlines()
    assert [line for line in text.splitlines() if line.startswith("all_model_checkpoint_paths")] == [
        'all_model_checkpoint_paths: "model.ckpt-10"',
        'all_model_checkpoint_paths: "model.ckpt-20"',
        'all_model_checkpoint_paths: "model.ckpt-30"']
    assert checkpoints.committed(tmp_path) == [tmp_path / f"model.ckpt-{s}" for s in (10, 20, 30)]
    state = checkpoints.read_state(tmp_path)
    assert list(state.all_model_checkpoint_timestamps) == [10.0, 20.0, 30.0]
    meta = checkpoints.read_meta(tmp_path)
    assert [i.path for i in meta.checkpoints] == ["model.ckpt-10", "model.ckpt-20", "model.ckpt-30"]
    assert meta.checkpoints[-1].step == 30 and meta.checkpoints[-1].num_shards == 2
    assert meta.last_checkpoint_save_timestamp == 30


def test_a_state_file_written_elsewhere_is_read(tmp_path):
    """A TF-style file with only model_checkpoint_path (and an absolute path) is understood."""
    (tmp_path / checkpoints.STATE_FILE).write_text(
        'model_checkpoint_path: "model.ckpt-7"\n'
        f'all_model_checkpoint_paths: "{tmp_path / "model.ckpt-3"}"\n')
    assert checkpoints.committed(tmp_path) == [tmp_path / "model.ckpt-3", tmp_path / "model.ckpt-7"]


def test_committing_again_moves_a_checkpoint_to_the_end(tmp_path):
    a, b = _fake_ckpt(tmp_path, 1), _fake_ckpt(tmp_path, 2)
    _commit(tmp_path, a, now=1)
    _commit(tmp_path, b, now=2)
    _commit(tmp_path, a, now=3)
    assert _names(checkpoints.committed(tmp_path)) == ["model.ckpt-2", "model.ckpt-1"]
    assert checkpoints.read_state(tmp_path).model_checkpoint_path == "model.ckpt-1"
    assert [i.path for i in checkpoints.read_meta(tmp_path).checkpoints] == ["model.ckpt-2",
                                                                            "model.ckpt-1"]


def test_max_to_keep_deletes_the_oldest_dirs(tmp_path):
    keep3 = Retention(max_to_keep=3)
    removed = []
    for step in range(1, 6):
        removed += _commit(tmp_path, _fake_ckpt(tmp_path, step), keep3, now=float(step))
    assert _names(removed) == ["model.ckpt-1", "model.ckpt-2"]
    assert not (tmp_path / "model.ckpt-1").exists() and not (tmp_path / "model.ckpt-2").exists()
    assert _names(checkpoints.committed(tmp_path)) == ["model.ckpt-3", "model.ckpt-4", "model.ckpt-5"]
    assert all(p.is_dir() for p in checkpoints.committed(tmp_path))
    assert [i.path for i in checkpoints.read_meta(tmp_path).checkpoints] == [
        "model.ckpt-3", "model.ckpt-4", "model.ckpt-5"]


def test_max_to_keep_zero_keeps_everything(tmp_path):
    for step in range(1, 9):
        assert _commit(tmp_path, _fake_ckpt(tmp_path, step), KEEP_ALL, now=float(step)) == []
    assert len(checkpoints.committed(tmp_path)) == 8
    assert all(p.is_dir() for p in checkpoints.committed(tmp_path))


def test_exempt_checkpoints_are_never_deleted(tmp_path):
    """The seed's test_exempt_checkpoints: exempt paths survive however many saves follow,
    and do not count against max_to_keep."""
    keep2 = Retention(max_to_keep=2)
    _commit(tmp_path, _fake_ckpt(tmp_path, 1), keep2, now=1)
    _commit(tmp_path, _fake_ckpt(tmp_path, 2), keep2, now=2)
    meta = checkpoints.read_meta(tmp_path)
    meta.exempt_model_checkpoint_paths.append("model.ckpt-1")
    checkpoints.write_meta(tmp_path, meta)
    for step in range(3, 8):
        _commit(tmp_path, _fake_ckpt(tmp_path, step), keep2, now=float(step))
    assert _names(checkpoints.committed(tmp_path)) == ["model.ckpt-1", "model.ckpt-6", "model.ckpt-7"]
    assert (tmp_path / "model.ckpt-1").is_dir()
    assert not (tmp_path / "model.ckpt-2").exists() and not (tmp_path / "model.ckpt-5").exists()
    assert list(checkpoints.read_meta(tmp_path).exempt_model_checkpoint_paths) == ["model.ckpt-1"]


def test_keep_checkpoint_every_n_hours_preserves_one_per_period(tmp_path):
    """Saves every 30 minutes from t0, max_to_keep=1, one kept per 2 hours: TF's rule (a
    checkpoint leaving the window is kept if 2 h passed since the last one kept, counting
    from the first commit)."""
    t0 = 1_700_000_000.0
    retention = Retention(max_to_keep=1, keep_checkpoint_every_n_hours=2.0)
    for k in range(11):  # t0 .. t0 + 5 h
        _commit(tmp_path, _fake_ckpt(tmp_path, k), retention, now=t0 + k * 1800)
    kept = _names(checkpoints.committed(tmp_path))
    # steps 4 and 8 are the first to leave the window 2 h and 4 h after t0; 10 is the newest
    assert kept == ["model.ckpt-4", "model.ckpt-8", "model.ckpt-10"]
    assert sorted(p.name for p in tmp_path.glob("model.ckpt-*")) == sorted(kept)
    assert list(checkpoints.read_meta(tmp_path).exempt_model_checkpoint_paths) == [
        "model.ckpt-4", "model.ckpt-8"]
    assert checkpoints.read_state(tmp_path).last_preserved_timestamp == t0 + 8 * 1800


def test_problems_name_what_is_wrong(tmp_path):
    good = _fake_ckpt(tmp_path, 1)
    assert checkpoints.problems(good) == []
    assert checkpoints.problems(tmp_path / "model.ckpt-99") == [
        f"{tmp_path / 'model.ckpt-99'} does not exist"]

    no_manifest = _fake_ckpt(tmp_path, 2)
    (checkpoints.shard_dir(no_manifest, 1, 2) / checkpoints.MANIFEST).unlink()
    [found] = checkpoints.problems(no_manifest)
    assert "shard-1-of-2/MANIFEST.json is missing" in found and "never finished" in found

    wrong_size = _fake_ckpt(tmp_path, 3)
    victim = checkpoints.shard_dir(wrong_size, 0, 2) / "table-0.bin"
    victim.write_bytes(b"longer than before")
    [found] = checkpoints.problems(wrong_size)
    assert str(victim) in found and "18 bytes" in found and "the manifest says 5" in found

    missing_file = _fake_ckpt(tmp_path, 4)
    (checkpoints.shard_dir(missing_file, 0, 2) / "table-0.bin").unlink()
    [found] = checkpoints.problems(missing_file)
    assert "table-0.bin: missing" in found

    missing_dir = _fake_ckpt(tmp_path, 5, num_shards=3)
    for f in checkpoints.shard_dir(missing_dir, 2, 3).iterdir():
        f.unlink()
    checkpoints.shard_dir(missing_dir, 2, 3).rmdir()
    [found] = checkpoints.problems(missing_dir)
    assert "shard-2-of-3/MANIFEST.json is missing" in found

    garbled = _fake_ckpt(tmp_path, 6)
    (checkpoints.shard_dir(garbled, 0, 2) / checkpoints.MANIFEST).write_text("{not json")
    [found] = checkpoints.problems(garbled)
    assert "unreadable" in found


def test_shard_count_from_meta_or_dirs_and_disagreement(tmp_path):
    assert checkpoints.shard_count(_fake_ckpt(tmp_path, 1, num_shards=3)) == 3
    assert checkpoints.shard_count(_fake_ckpt(tmp_path, 2, num_shards=4, meta=False)) == 4
    mixed = _fake_ckpt(tmp_path, 3, num_shards=2, meta=False)
    checkpoints.shard_dir(mixed, 0, 3).mkdir()
    with pytest.raises(CheckpointError, match=r"disagree on the shard count \(\[2, 3\]\)"):
        checkpoints.shard_count(mixed)
    [found] = checkpoints.problems(mixed)
    assert "disagree on the shard count" in found
    (tmp_path / "model.ckpt-4").mkdir()
    with pytest.raises(CheckpointError, match="none"):
        checkpoints.shard_count(tmp_path / "model.ckpt-4")
    bad_meta = _fake_ckpt(tmp_path, 5)
    (bad_meta / checkpoints.CKPT_META).write_text("{}")
    with pytest.raises(CheckpointError, match="meta.json: unreadable"):
        checkpoints.shard_count(bad_meta)


def test_latest_valid_falls_back_past_broken_checkpoints(tmp_path, caplog):
    assert checkpoints.latest_valid(tmp_path) is None
    for step in (10, 20, 30):
        _commit(tmp_path, _fake_ckpt(tmp_path, step), now=float(step))
    assert checkpoints.latest_valid(tmp_path) == tmp_path / "model.ckpt-30"
    (checkpoints.shard_dir(tmp_path / "model.ckpt-30", 0, 2) / checkpoints.MANIFEST).unlink()
    (checkpoints.shard_dir(tmp_path / "model.ckpt-20", 1, 2) / "table-0.bin").write_bytes(b"")
    assert checkpoints.latest_valid(tmp_path) == tmp_path / "model.ckpt-10"
    assert "skipping checkpoint model.ckpt-30" in caplog.text
    assert "skipping checkpoint model.ckpt-20" in caplog.text
    (checkpoints.shard_dir(tmp_path / "model.ckpt-10", 0, 2) / checkpoints.MANIFEST).unlink()
    assert checkpoints.latest_valid(tmp_path) is None


def test_an_uncommitted_checkpoint_is_never_latest_and_is_removable(tmp_path):
    _commit(tmp_path, _fake_ckpt(tmp_path, 10))
    torn = _fake_ckpt(tmp_path, 20)
    assert checkpoints.latest_valid(tmp_path) == tmp_path / "model.ckpt-10"
    checkpoints.remove_uncommitted(tmp_path, torn)
    assert not torn.exists()
    checkpoints.remove_uncommitted(tmp_path, tmp_path / "model.ckpt-10")
    assert (tmp_path / "model.ckpt-10").is_dir()


def test_a_garbled_state_file_raises_after_retries(tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(checkpoints.time, "sleep", sleeps.append)
    (tmp_path / checkpoints.STATE_FILE).write_text('model_checkpoint_path: "model.ckpt-1\nnot: [')
    with pytest.raises(CheckpointError, match=r"checkpoint: unreadable"):
        checkpoints.read_state(tmp_path)
    assert len(sleeps) == checkpoints._READ_ATTEMPTS - 1
    (tmp_path / checkpoints.META_FILE).write_text("exempt_model_checkpoint_paths: 3 3")
    with pytest.raises(CheckpointError, match="monolith_checkpoint: unreadable"):
        checkpoints.read_meta(tmp_path)


def test_a_read_racing_a_rewrite_succeeds_on_retry(tmp_path, monkeypatch):
    """A garbled read followed by a whole file (a rename landed meanwhile) is not an error."""
    state_file = tmp_path / checkpoints.STATE_FILE
    state_file.write_text('model_checkpoint_path: "model.ckp')

    def rewrite(_seconds):
        state_file.write_text('model_checkpoint_path: "model.ckpt-5"\n')

    monkeypatch.setattr(checkpoints.time, "sleep", rewrite)
    assert checkpoints.read_state(tmp_path).model_checkpoint_path == "model.ckpt-5"


def _restore_source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for step in (10, 20, 30):
        _commit(src, _real_ckpt(src, step), now=float(step))
    return src


def test_restore_from_copies_the_named_checkpoint_once(tmp_path):
    """The seed's runner_utils test_copy_ckpt."""
    src = _restore_source(tmp_path)
    model_dir = tmp_path / "model"
    dst = checkpoints.restore_from(model_dir, src, "model.ckpt-20")
    assert dst == model_dir / "model.ckpt-20"
    assert checkpoints.committed(model_dir) == [dst]
    assert checkpoints.read_state(model_dir).model_checkpoint_path == "model.ckpt-20"
    assert checkpoints.problems(dst) == []
    meta = checkpoints.read_meta(model_dir)
    assert list(meta.exempt_model_checkpoint_paths) == ["model.ckpt-20"]
    assert [(i.path, i.step, i.num_shards) for i in meta.checkpoints] == [("model.ckpt-20", 20, 1)]
    marker = model_dir / checkpoints.RESTORE_MARKER
    assert marker.read_text().strip() == str(src / "model.ckpt-20")
    for name in ("table-0.bin", "table-1.bin", "dense.bin", checkpoints.MANIFEST):
        rel = Path("shard-0-of-1") / name
        assert (dst / rel).read_bytes() == (src / "model.ckpt-20" / rel).read_bytes()
    assert not list(model_dir.glob(".*copying"))
    # a second call (a restarted job) leaves everything alone, even with another name
    assert checkpoints.restore_from(model_dir, src, "model.ckpt-30") is None
    assert checkpoints.committed(model_dir) == [dst]
    # the copy is exempt: later saves with max_to_keep=1 never delete it
    for step in (40, 50):
        _commit(model_dir, _fake_ckpt(model_dir, step), Retention(max_to_keep=1), now=float(step))
    assert _names(checkpoints.committed(model_dir)) == ["model.ckpt-20", "model.ckpt-50"]
    assert dst.is_dir()


def test_restore_from_takes_the_latest_valid_without_a_name(tmp_path):
    src = _restore_source(tmp_path)
    (checkpoints.shard_dir(src / "model.ckpt-30", 0, 1) / "dense.bin").unlink()
    dst = checkpoints.restore_from(tmp_path / "model", src)
    assert dst == tmp_path / "model" / "model.ckpt-20"


def test_restore_from_refuses_unknown_or_missing_checkpoints(tmp_path):
    src = _restore_source(tmp_path)
    model_dir = tmp_path / "model"
    with pytest.raises(CheckpointError, match="model.ckpt-25 is not a committed checkpoint"):
        checkpoints.restore_from(model_dir, src, "model.ckpt-25")
    (checkpoints.shard_dir(src / "model.ckpt-30", 0, 1) / checkpoints.MANIFEST).unlink()
    with pytest.raises(CheckpointError, match="model.ckpt-30 cannot be restored"):
        checkpoints.restore_from(model_dir, src, "model.ckpt-30")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="has no committed checkpoint"):
        checkpoints.restore_from(model_dir, empty)
    assert not (model_dir / checkpoints.RESTORE_MARKER).exists()
    assert checkpoints.committed(model_dir) == []


def test_restore_from_leaves_a_model_dir_with_its_own_checkpoints_alone(tmp_path):
    src = _restore_source(tmp_path)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    _commit(model_dir, _fake_ckpt(model_dir, 5))
    assert checkpoints.restore_from(model_dir, src, "model.ckpt-30") is None
    assert _names(checkpoints.committed(model_dir)) == ["model.ckpt-5"]
    assert not (model_dir / "model.ckpt-30").exists()
