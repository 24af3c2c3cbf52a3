"""The ranker's validation: held-out users, early stopping, and the generators' NDCG on the same rows."""

import numpy as np
import pytest
import xgboost as xgb

from conf import load_config
from models.ranker import best_rounds, booster_params, order_ndcg, validation_mask


def test_order_ndcg_by_hand():
    qid = np.array([1, 1, 1, 2, 2])
    label = np.array([0.0, 1.0, 1.0, 1.0, 0.0])
    rank = np.array([1.0, 2.0, np.nan, np.nan, 1.0])
    # query 1: one hit at position 2 of an ideal two; query 2: its one relevant row is unranked
    expected = (1 / np.log2(3)) / (1 + 1 / np.log2(3)) / 2
    assert order_ndcg(qid, label, rank, k=2) == pytest.approx(expected)


def _queries(seed: int, n_users: int, per_user: int = 30):
    rng = np.random.default_rng(seed)
    qid = np.repeat(np.arange(n_users), per_user)
    x = rng.normal(size=(len(qid), 3))
    label = (x[:, 0] + rng.normal(scale=1.5, size=len(qid)) > 1.8).astype(np.float32)
    label[::per_user] = 1.0            # every query has a relevant row
    return qid, x, label


def test_order_ndcg_is_xgboosts_metric_and_early_stopping_keeps_the_best_round():
    cfg = load_config(environ={}).models.ranker.model_copy(update={"n_estimators": 200, "max_depth": 2, "learning_rate": 0.3})
    qid, x, label = _queries(0, 300)
    held = validation_mask(np.arange(300), 0.3, seed=1)
    assert held.sum() == 90 and validation_mask(np.arange(300), 0.3, seed=1).tolist() == held.tolist(), "seeded"
    train, valid = ~held[qid], held[qid]
    model = xgb.XGBRanker(**booster_params(cfg, 42, 5), early_stopping_rounds=5)
    model.fit(x[train], label[train], qid=qid[train], eval_set=[(x[valid], label[valid])], eval_qid=[qid[valid]])
    booster = model.get_booster()
    best = int(booster.attr("best_iteration"))
    assert best + 1 < 200, "stopped early on noisy labels"
    trimmed = best_rounds(booster)
    assert trimmed.num_boosted_rounds() == best + 1
    scores = trimmed.inplace_predict(x[valid])
    # the same rows ranked by the trimmed model: positions within each query, 1 = best score
    order = np.lexsort((-scores, qid[valid]))
    rank = np.empty(len(order))
    starts = np.searchsorted(qid[valid][order], qid[valid][order])
    rank[order] = np.arange(len(order)) - starts + 1
    assert order_ndcg(qid[valid], label[valid], rank, 5) == pytest.approx(float(booster.attr("best_score")), abs=1e-6)


def test_validation_mask_holds_out_nobody_when_a_side_would_be_empty():
    assert not validation_mask(np.arange(1), 0.2, 0).any()
    assert not validation_mask(np.arange(10), 0.0, 0).any()
    assert validation_mask(np.arange(2), 0.5, 0).sum() == 1
