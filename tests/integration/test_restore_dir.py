"""``--restore-dir``: PS processes started together copy another model dir's checkpoint once."""

import json
import subprocess
import sys

import numpy as np

from ps_server.checkpoint import ShardSaver
from ps_server.config import TablesConfig
from ps_server.dense import DenseStore
from ps_server.table import EmbeddingTable
from services import checkpoints
from services.pb import checkpoint_pb2
from tests.procs import ROOT, start_ps
from worker.client import PSClient

EXAMPLE = ROOT / "ps_server" / "examples" / "tables.json"


def _source(model_dir, step=30):
    """A committed one-shard checkpoint with rows 0..999 of table 'user'."""
    config = TablesConfig.load(EXAMPLE)
    tables = {t.name: EmbeddingTable(t) for t in config.tables}
    ids = np.arange(1000, dtype=np.int64)
    tables["user"].apply_gradients(ids, np.ones((1000, 16), dtype=np.float32), timestamp_s=100)
    ckpt = model_dir / checkpoints.checkpoint_name(step)
    ShardSaver(tables, DenseStore(config.dense_optimizer), 0, 1).save(ckpt, step)
    (ckpt / checkpoints.CKPT_META).write_text(json.dumps({"num_shards": 1}))
    checkpoints.commit(model_dir, ckpt, checkpoint_pb2.CheckpointInfo(step=step, num_shards=1),
                       checkpoints.Retention())
    return tables["user"].inspect(ids).embeddings


def test_ps_started_together_copy_once_and_restore_resharded(tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    want = _source(source)
    flags = ["--model-dir", str(target), "--restore-dir", str(source),
             "--restore-ckpt", "model.ckpt-30"]
    ps = [start_ps(tmp_path, EXAMPLE, shard=i, num_shards=2, extra=flags, wait=False)
          for i in range(2)]
    try:
        from tests.procs import wait_healthy

        for p in ps:
            wait_healthy(p.address, proc=p.proc)
        with PSClient([p.address for p in ps]) as client:
            got = client.inspect_rows("user", np.arange(1000, dtype=np.int64))
        assert got.found.all()
        np.testing.assert_array_equal(got.embeddings, want)
    finally:
        for p in ps:
            assert p.stop() == 0, p.log()
    assert checkpoints.committed(target) == [target / "model.ckpt-30"]
    assert (target / checkpoints.RESTORE_MARKER).read_text().strip() == str(source / "model.ckpt-30")
    assert not list(target.glob(".model.ckpt-30.copying"))


def test_unknown_restore_ckpt_is_a_clear_startup_error(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    _source(source)
    out = subprocess.run(
        [sys.executable, "-m", "ps_server", "--tables", str(EXAMPLE), "--model-dir",
         str(tmp_path / "target"), "--restore-dir", str(source), "--restore-ckpt", "model.ckpt-7"],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 1
    assert "model.ckpt-7 is not a committed checkpoint of" in out.stderr
