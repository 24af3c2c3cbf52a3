"""Batch recommendation for a group of users: generator lists, ranked candidates, reranked explained lists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from conf.settings import RerankConfig
from models.base import CandidateGenerator
from models.data import DAY, TrainingSet
from models.explain import HISTORY_FOR_REASONS, NON_PERSONAL, reason
from models.features import FeatureContext, candidates, recent_history
from models.ranker import Ranker, rank_fusion
from models.rerank import allowed, rerank

FINAL = "final"
RANKER = "ranker"
COLUMNS = ["list_name", "user_id", "rank", "movie_id", "score", "reason", "slot"]


@dataclass
class FittedModels:
    """Everything a scorer needs, small enough to broadcast."""

    generators: dict[str, CandidateGenerator]   # feed the ranker
    reference: dict[str, CandidateGenerator]    # reported only (EASE when it is not a generator)
    train: TrainingSet
    context: FeatureContext
    ranker: Ranker | None
    rerank: RerankConfig
    user_age: np.ndarray                         # (n_users,) NaN where unknown
    n_candidates: int
    n_final: int
    trending_window_days: float = 7.0

    def is_new(self, items: np.ndarray) -> np.ndarray:
        released = (self.train.as_of - self.train.catalog.release_ts[items]) / DAY
        return np.isfinite(released) & (released <= self.rerank.new_release_days)

    def is_trending(self, items: np.ndarray) -> np.ndarray:
        trending = self.generators.get("trending")
        return trending.is_trending(items) if trending is not None else np.zeros(len(items), dtype=bool)


def score_candidates(models: FittedModels, user_idx: np.ndarray):
    """(Candidates, ranker scores per candidate row)."""
    cands = candidates(models.generators, models.context, models.train, user_idx, models.n_candidates,
                       list(models.generators), models.reference)
    rows = cands.rows
    scores = models.ranker.predict(rows) if models.ranker else rank_fusion(rows, list(models.generators))
    return cands, np.asarray(scores, dtype=np.float64)


def recommend_users(models: FittedModels, user_ids: np.ndarray) -> pd.DataFrame:
    """Rows of COLUMNS for `user_ids`: every generator's top-N, the ranker's order, and the final list.

    Unknown users (no training events) get what the non-personal generators retrieve, ranked:
    that is the fallback list.
    """
    user_idx = models.train.user_index(user_ids)
    cands, scores = score_candidates(models, user_idx)
    item_ids = models.train.item_ids
    frames = [_rows(name, user_ids, items, best, item_ids) for name, (items, best) in cands.lists.items()]
    rows = cands.rows.assign(score=scores).sort_values(["row", "score"], ascending=[True, False], kind="mergesort")
    personal = [f"{g}_rank" for g in models.generators if g not in NON_PERSONAL]
    ranked, final = [], []
    for row, group in rows.groupby("row", sort=True):
        u, uid = int(user_idx[row]), int(user_ids[row])
        items, s = group["item_idx"].to_numpy(), group["score"].to_numpy()
        ranked.append(pd.DataFrame({"list_name": RANKER, "user_id": uid, "rank": np.arange(1, min(len(items), models.n_final) + 1),
                                    "movie_id": item_ids[items[:models.n_final]], "score": s[:models.n_final]}))
        age = models.user_age[u] if u >= 0 else np.nan
        keep = allowed(items, age, models.train.catalog, models.rerank)
        is_personal = group[personal].notna().any(axis=1).to_numpy() if personal else np.zeros(len(group), dtype=bool)
        items, s, is_personal = items[keep], s[keep], is_personal[keep]
        new, trending = models.is_new(items), models.is_trending(items)
        picked, rel, slots = rerank(items, s, models.context.similarity, new, trending, models.rerank, models.n_final,
                                    models.context.item_popularity[items])
        position = {item: p for p, item in enumerate(items)}
        history = recent_history(models.context, u, HISTORY_FOR_REASONS)
        reasons = [reason(u, history, int(i), bool(is_personal[position[i]]), bool(new[position[i]]),
                          bool(trending[position[i]]), models.context, models.train.catalog.titles,
                          models.trending_window_days)[0] for i in picked]
        final.append(pd.DataFrame({"list_name": FINAL, "user_id": uid, "rank": np.arange(1, len(picked) + 1),
                                   "movie_id": item_ids[picked], "score": rel, "reason": reasons, "slot": slots}))
    frames.extend(ranked + final)
    out = pd.concat(frames, ignore_index=True)
    for column in ("reason", "slot"):
        if column not in out:
            out[column] = None
    return out.astype({"user_id": np.int64, "rank": np.int32, "movie_id": np.int64, "score": np.float64})[COLUMNS]


def _rows(name: str, user_ids: np.ndarray, items: np.ndarray, scores: np.ndarray, item_ids: np.ndarray) -> pd.DataFrame:
    rows, cols = np.nonzero(items >= 0)
    return pd.DataFrame({
        "list_name": name,
        "user_id": user_ids[rows].astype(np.int64),
        "rank": (cols + 1).astype(np.int32),
        "movie_id": item_ids[items[rows, cols]].astype(np.int64),
        "score": scores[rows, cols].astype(np.float64),
        "reason": None,
        "slot": None,
    })
