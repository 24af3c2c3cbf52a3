"""Batch recommendation for a group of users: generator lists, ranked candidates, reranked explained lists."""

from __future__ import annotations

from dataclasses import dataclass, field

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


def final_list_name(variant: str | None) -> str:
    """`final` for the control, `final@<variant>` for the other arms of the experiment."""
    return FINAL if variant is None else f"{FINAL}@{variant}"

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
    variants: dict[str, RerankConfig] = field(default_factory=dict)  # A/B arms after the control (`rerank`)

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
    """Rows of COLUMNS for `user_ids`: every generator's top-N, the ranker's order, and the final list of
    each experiment variant.

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
        is_personal = group[personal].notna().any(axis=1).to_numpy() if personal else np.zeros(len(group), dtype=bool)
        history = recent_history(models.context, u, HISTORY_FOR_REASONS)
        for variant, rules in [(None, models.rerank), *models.variants.items()]:
            final.append(_final_list(models, final_list_name(variant), rules, u, uid, age, items, s, is_personal, history))
    frames.extend(ranked + final)
    out = pd.concat(frames, ignore_index=True)
    for column in ("reason", "slot"):
        if column not in out:
            out[column] = None
    return out.astype({"user_id": np.int64, "rank": np.int32, "movie_id": np.int64, "score": np.float64})[COLUMNS]


def _final_list(models: FittedModels, name: str, rules: RerankConfig, u: int, uid: int, age: float, items: np.ndarray,
                scores: np.ndarray, is_personal: np.ndarray, history: np.ndarray) -> pd.DataFrame:
    """One user's reranked, explained list under `rules`."""
    keep = allowed(items, age, models.train.catalog, rules)
    items, scores, is_personal = items[keep], scores[keep], is_personal[keep]
    new, trending = models.is_new(items), models.is_trending(items)
    picked, rel, slots = rerank(items, scores, models.context.similarity, new, trending, rules, models.n_final,
                                models.context.item_popularity[items])
    position = {item: p for p, item in enumerate(items)}
    reasons = [reason(u, history, int(i), bool(is_personal[position[i]]), bool(new[position[i]]),
                      bool(trending[position[i]]), models.context, models.train.catalog.titles,
                      models.trending_window_days)[0] for i in picked]
    return pd.DataFrame({"list_name": name, "user_id": uid, "rank": np.arange(1, len(picked) + 1),
                         "movie_id": models.train.item_ids[picked], "score": rel, "reason": reasons, "slot": slots})


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


def similar_movies(models: FittedModels, item_idx: np.ndarray, k: int) -> pd.DataFrame:
    """Each item's `k` nearest items by the similarity the reasons use (two-tower vectors cover cold movies)."""
    unit = models.context.item_unit
    sims = unit[item_idx] @ unit.T
    sims[np.arange(len(item_idx)), item_idx] = -np.inf
    k = min(k, unit.shape[0] - 1)
    if k <= 0:
        return pd.DataFrame({"movie_id": [], "rank": [], "similar_movie_id": [], "score": []})
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    ids = models.train.item_ids
    return pd.DataFrame({
        "movie_id": np.repeat(ids[item_idx], k).astype(np.int64),
        "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), len(item_idx)),
        "similar_movie_id": ids[top].ravel().astype(np.int64),
        "score": np.take_along_axis(sims, top, axis=1).ravel().astype(np.float64),
    })
