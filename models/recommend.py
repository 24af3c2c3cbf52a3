"""Batch recommendation for a group of users: every generator's candidates plus the fused, explained list."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.base import CandidateGenerator
from models.blend import rrf
from models.data import TrainingSet
from models.explain import reason_text

FINAL = "final"
COLUMNS = ["list_name", "user_id", "rank", "movie_id", "score", "reason"]


@dataclass
class FittedModels:
    """Everything a scorer needs, small enough to broadcast: generators, training view, titles."""

    generators: dict[str, CandidateGenerator]
    train: TrainingSet
    titles: np.ndarray          # (n_items,) title per item index
    blend_weights: dict[str, float]
    rrf_k: int


def recommend_users(models: FittedModels, user_ids: np.ndarray, n_candidates: int, n_final: int) -> pd.DataFrame:
    """Rows of COLUMNS for `user_ids`: each generator's top `n_candidates` and the top `n_final` fused list.

    Unknown users (no training events) get only what non-personal generators offer
    (popularity): that is the fallback list.
    """
    user_idx = models.train.user_index(user_ids)
    candidates, frames = {}, []
    for name, generator in models.generators.items():
        items, scores = generator.recommend(user_idx, n_candidates)
        candidates[name] = items
        frames.append(_rows(name, user_ids, items, scores, models.train.item_ids))
    items, scores, source = rrf(candidates, models.blend_weights, models.rrf_k, n_final)
    final = _rows(FINAL, user_ids, items, scores, models.train.item_ids)
    names = list(models.generators)
    reasons = []
    for row, col in zip(*np.nonzero(items >= 0)):
        generator = models.generators[names[source[row, col]]]
        reason = generator.explain(int(user_idx[row]), int(items[row, col]))
        reasons.append(reason_text(reason, models.titles))
    final["reason"] = reasons
    frames.append(final)
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def _rows(name: str, user_ids: np.ndarray, items: np.ndarray, scores: np.ndarray, item_ids: np.ndarray) -> pd.DataFrame:
    rows, cols = np.nonzero(items >= 0)
    return pd.DataFrame({
        "list_name": name,
        "user_id": user_ids[rows].astype(np.int64),
        "rank": (cols + 1).astype(np.int32),
        "movie_id": item_ids[items[rows, cols]].astype(np.int64),
        "score": scores[rows, cols].astype(np.float64),
        "reason": None,
    })
