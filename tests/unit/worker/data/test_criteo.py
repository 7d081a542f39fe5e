"""Criteo TSV reader: parsing, missing values, hashing per slot, byte-range sharding."""

import math

import numpy as np
import pytest

from worker.data import Batch, CriteoConfig, CriteoReader, parse_criteo, slot_of, slot_to_key
from worker.data.criteo import NUM_CAT_FEATURES, NUM_INT_FEATURES


def _line(label, ints, cats) -> str:
    return "\t".join([str(label), *ints, *cats])


def _rows(n: int) -> list[tuple[int, list[str], list[str]]]:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n):
        ints = [("" if rng.random() < 0.2 else str(int(rng.integers(-3, 5000))))
                for _ in range(NUM_INT_FEATURES)]
        cats = [("" if rng.random() < 0.2 else f"{int(rng.integers(0, 50)):08x}")
                for _ in range(NUM_CAT_FEATURES)]
        rows.append((i % 2, ints, cats))
    return rows


def _write(path, rows, newline="\n", trailing=True):
    text = newline.join(_line(*r) for r in rows) + (newline if trailing else "")
    path.write_bytes(text.encode())


def test_parse_values_and_missing(tmp_path):
    ints = ["1", "", "-2", "0", "10"] + [""] * 8
    cats = ["68fd1e64", ""] + ["a"] * 24
    path = tmp_path / "day_0.tsv"
    _write(path, [(1, ints, cats), (0, [""] * 13, ["68fd1e64"] + [""] * 25)])
    batch = Batch.concat(list(CriteoReader(path).blocks()))
    assert batch.size == 2
    np.testing.assert_array_equal(batch.labels, [1.0, 0.0])
    assert batch.dense.dtype == np.float32 and batch.dense.shape == (2, 13)
    np.testing.assert_allclose(batch.dense[0, :5], [math.log(2), 0, 0, 0, math.log(11)], rtol=1e-6)
    assert (batch.dense[1] == 0).all()
    assert batch.timestamps_s is None
    assert list(batch.sparse) == [slot_to_key(j) for j in range(26)]
    c0, c1 = batch.sparse["feature_0"], batch.sparse["feature_1"]
    assert c0.row_lengths().tolist() == [1, 1] and c0.values[0] == c0.values[1]
    assert c1.row_lengths().tolist() == [0, 0]
    assert batch.sparse["feature_2"].row_lengths().tolist() == [1, 0]
    for j in range(26):
        assert (slot_of(batch.sparse[slot_to_key(j)].values) == j).all()
    same_token = [batch.sparse[slot_to_key(j)].values[0] for j in range(2, 26)]
    assert len(set(same_token)) == 24


def test_chunking_crlf_and_missing_final_newline_give_the_same_rows(tmp_path):
    rows = _rows(300)
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    _write(a, rows)
    _write(b, rows, newline="\r\n", trailing=False)
    whole = Batch.concat(list(CriteoReader(a).blocks()))
    chunked = Batch.concat(list(CriteoReader(b, CriteoConfig(chunk_bytes=1000)).blocks()))
    assert whole.size == chunked.size == 300
    np.testing.assert_array_equal(whole.dense, chunked.dense)
    for key in whole.sparse:
        assert whole.sparse[key].to_list() == chunked.sparse[key].to_list()
    np.testing.assert_array_equal(whole.labels, [r[0] for r in rows])


def test_workers_read_disjoint_parts_that_cover_the_file(tmp_path):
    rows = _rows(257)
    path = tmp_path / "day.tsv"
    _write(path, rows)
    full = Batch.concat(list(CriteoReader(path).blocks()))
    for n in (2, 3, 7):
        parts = [Batch.concat(list(CriteoReader(path, CriteoConfig(chunk_bytes=700), i, n)
                                   .blocks())) for i in range(n)]
        joined = Batch.concat(parts)
        np.testing.assert_array_equal(joined.dense, full.dense)
        np.testing.assert_array_equal(joined.labels, full.labels)
        assert joined.sparse["feature_5"].to_list() == full.sparse["feature_5"].to_list()


def test_batches_and_hash_seed(tmp_path):
    path = tmp_path / "d.tsv"
    _write(path, _rows(50))
    sizes = [b.size for b in CriteoReader(path).batches(16)]
    assert sizes == [16, 16, 16, 2]
    a = next(CriteoReader(path).blocks()).sparse["feature_3"].values
    b = next(CriteoReader(path, CriteoConfig(hash_seed=1)).blocks()).sparse["feature_3"].values
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("line,message", [
    ("1\t2\t3", "line 1: expected 40 tab-separated fields"),
    (_line(1, ["x"] + [""] * 12, [""] * 26), "line 1: integer features"),
    (_line("", [""] * 13, [""] * 26), "line 1: the label must be"),
    (_line(1, [""] * 13, [""] * 26) + "\textra", "expected 40"),
])
def test_malformed_lines_name_the_line(line, message):
    with pytest.raises(ValueError, match=message):
        parse_criteo((line + "\n").encode())


def test_error_line_number_counts_from_the_file_start(tmp_path):
    path = tmp_path / "bad.tsv"
    good = _line(0, [""] * 13, [""] * 26)
    path.write_text("\n".join([good] * 5 + ["0\t1"]) + "\n")
    with pytest.raises(ValueError, match="line 6"):
        list(CriteoReader(path, CriteoConfig(chunk_bytes=64)).blocks())


def test_config_validation():
    with pytest.raises(ValueError, match="chunk_bytes must be >= 1"):
        CriteoConfig(chunk_bytes=0)
