"""The learning-to-rank model's inference side and its training labels (training runs on Spark)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy import sparse

from conf.settings import RankerConfig


@dataclass
class Ranker:
    """An XGBoost `rank:ndcg` booster over the candidate features, in `features` order."""

    booster: xgb.Booster
    features: list[str]
    importance: dict[str, float] = field(default_factory=dict)

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        if rows.empty:
            return np.zeros(0, dtype=np.float32)
        self.booster.set_param({"nthread": 1})  # one Spark task = one core
        return self.booster.inplace_predict(rows[self.features].to_numpy(dtype=np.float32))


def booster_params(rc: RankerConfig, seed: int, k: int) -> dict:
    """The ranker's XGBoost parameters: the pipeline's `SparkXGBRanker` and the benches' `XGBRanker` fit the same model."""
    return {"objective": "rank:ndcg", "n_estimators": rc.n_estimators, "max_depth": rc.max_depth,
            "learning_rate": rc.learning_rate, "min_child_weight": rc.min_child_weight, "subsample": rc.subsample,
            "tree_method": "hist", "random_state": seed, "lambdarank_pair_method": "topk",
            "lambdarank_num_pair_per_sample": rc.pairs_per_candidate, "eval_metric": f"ndcg@{k}"}


def validation_mask(users: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Which of `users` are held out to stop boosting: a seeded `fraction` of them, none when either side would be empty."""
    n = int(round(len(users) * fraction))
    held = np.zeros(len(users), dtype=bool)
    if 0 < n < len(users):
        held[np.random.default_rng(seed).choice(len(users), n, replace=False)] = True
    return held


def best_rounds(booster: xgb.Booster) -> xgb.Booster:
    """The booster cut after its best validation round: the trees early stopping grew past it only cost inference."""
    best = booster.attr("best_iteration")
    return booster if best is None else booster[: int(best) + 1]


def order_ndcg(qid: np.ndarray, label: np.ndarray, rank: np.ndarray, k: int) -> float:
    """Mean NDCG@k over the queries of labelled candidate rows ordered by `rank` (1 = first, NaN = after every ranked row),
    against each query's own relevant candidates, as XGBoost's `ndcg@k` metric scores the ranker on the same rows."""
    users, row = np.unique(qid, return_inverse=True)
    gain = np.where(rank <= k, label / np.log2(np.nan_to_num(rank, nan=np.inf) + 1), 0.0)
    dcg = np.bincount(row, weights=gain, minlength=len(users))
    positives = np.minimum(np.bincount(row, weights=label > 0, minlength=len(users)).astype(np.int64), k)
    ideal = np.concatenate([[0.0], np.cumsum(1 / np.log2(np.arange(2, k + 2)))])[positives]
    return float(np.mean(np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0))) if len(users) else float("nan")


def rank_fusion(rows: pd.DataFrame, generators: list[str], k: int = 60) -> np.ndarray:
    """Reciprocal-rank fusion of the generators' ranks: the order used when no ranker is trained."""
    total = np.zeros(len(rows), dtype=np.float64)
    for g in generators:
        total += np.nan_to_num(1.0 / (k + rows[f"{g}_rank"].to_numpy(dtype=np.float64)), nan=0.0)
    return total


def labels(rows: pd.DataFrame, user_idx: np.ndarray, relevant: sparse.csr_matrix) -> np.ndarray:
    """1 where the candidate is relevant in the label window (`relevant` is users x items), else 0."""
    users = user_idx[rows["row"].to_numpy()]
    return np.asarray(relevant[users, rows["item_idx"].to_numpy()]).ravel().astype(np.float32) > 0
