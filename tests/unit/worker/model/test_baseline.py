"""The frequency baseline and the Bayes-optimal AUC on the synthetic stream."""

import numpy as np
import pytest

from worker.data import Batch, Ragged, Split, SyntheticConfig, SyntheticStream
from worker.model import FrequencyBaseline, auc, bayes_optimal_auc


def _batch(rows, labels):
    return Batch({"s": Ragged.from_rows(rows)}, np.zeros((len(rows), 0), np.float32),
                 np.asarray(labels, np.float32))


def test_counts_smoothing_and_unseen_ids():
    train = _batch([[1], [1], [1], [1], [2], [2], [2], [2]], [1, 1, 1, 0, 0, 0, 0, 1])
    model = FrequencyBaseline(smoothing=2.0).fit([train])
    assert model.prior == 0.5
    p = model.predict(_batch([[1], [2], [3], [], [1, 2]], [0] * 5))
    assert p[0] == pytest.approx((3 + 1) / (4 + 2))
    assert p[1] == pytest.approx((1 + 1) / (4 + 2))
    assert p[2] == pytest.approx(0.5) and p[3] == pytest.approx(0.5)
    assert p[4] == pytest.approx(0.5)


def test_baseline_ranks_better_than_chance_and_below_bayes():
    cfg = SyntheticConfig(num_slots=4, vocab_size=500, num_dense=2, num_examples=60_000,
                          num_eval_examples=20_000, block_size=10_000, seed=3)
    stream = SyntheticStream(cfg)
    evals = Batch.concat(list(stream.blocks(Split.EVAL)))
    baseline = auc(evals.labels, FrequencyBaseline().fit(stream.blocks()).predict(evals))
    bayes = bayes_optimal_auc(stream)
    assert 0.6 < baseline < bayes
    assert bayes == pytest.approx(auc(evals.labels, stream.truth.probability(evals)))


def test_predict_before_fit_and_bad_smoothing():
    with pytest.raises(ValueError, match="predict before fit"):
        FrequencyBaseline().predict(_batch([[1]], [0]))
    with pytest.raises(ValueError, match="smoothing must be"):
        FrequencyBaseline(smoothing=0.0)
    with pytest.raises(ValueError, match="at least one batch"):
        FrequencyBaseline().fit([])
