"""Monolith's input.py: slot_to_key and random FFM examples."""

import numpy as np
import pytest

from worker.data import generate_ffm_batch, generate_ffm_example, slot_to_key


def test_slot_to_key():
    assert slot_to_key(0) == "feature_0"
    assert slot_to_key(12) == "feature_12"


def test_example_ids_lengths_and_label():
    vocab_sizes = [3, 10, 5]
    rng = np.random.default_rng(0)
    lengths = set()
    for _ in range(200):
        ex = generate_ffm_example(vocab_sizes, length=4, rng=rng)
        assert list(ex) == ["label", "feature_0", "feature_1", "feature_2"]
        assert ex["label"].tolist() == [0.0]
        for i, vocab in enumerate(vocab_sizes):
            ids = ex[slot_to_key(i)]
            assert ids.dtype == np.int64
            assert 1 <= len(ids) <= 4
            assert ((ids >= 10 * i) & (ids < 10 * i + vocab)).all()
            lengths.add(len(ids))
    assert lengths == {1, 2, 3, 4}


def test_batch_matches_example_ranges():
    batch = generate_ffm_batch([3, 10], 100, length=5, rng=np.random.default_rng(1))
    assert batch.size == 100 and batch.dense.shape == (100, 0)
    second = batch.sparse["feature_1"]
    assert ((second.values >= 10) & (second.values < 20)).all()
    assert second.row_lengths().min() >= 1 and second.row_lengths().max() <= 5


def test_bad_arguments():
    with pytest.raises(ValueError, match="vocab_sizes"):
        generate_ffm_example([])
    with pytest.raises(ValueError, match="length must be >= 1"):
        generate_ffm_example([2], length=0)
