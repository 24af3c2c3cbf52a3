"""The learning-to-rank model's inference side and its training labels (training runs on Spark)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy import sparse


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
