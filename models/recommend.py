"""Batch recommendation for a group of users: generator lists, ranked candidates, reranked explained lists."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from conf.settings import RerankConfig
from models.base import CandidateGenerator, top_n
from models.data import DAY, TrainingSet
from models.explain import HISTORY_FOR_REASONS, NON_PERSONAL, most_similar, reasons
from models.candidate_features import FeatureContext, candidates, recent_matrix
from models.ranker import Ranker, rank_fusion
from models.rerank import SLOT_NAMES, allowed, banned_items, pool_size, rerank_batch
from models.segments import Segments

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
    ranker_candidates: int = 0                   # best candidates by rank fusion the ranker scores per user; 0 = all
    segments: Segments | None = None             # segment and genre lists (models/segments.py)

    def is_new(self, items: np.ndarray) -> np.ndarray:
        released = (self.train.as_of - self.train.catalog.release_ts[items]) / DAY
        return np.isfinite(released) & (released <= self.rerank.new_release_days)

    def is_trending(self, items: np.ndarray) -> np.ndarray:
        trending = self.generators.get("trending")
        return trending.is_trending(items) if trending is not None else np.zeros(items.shape, dtype=bool)

    def banned(self, rules: RerankConfig) -> np.ndarray:
        """Items in a genre `rules` exclude (cached per rule set: the catalog does not change)."""
        key = tuple(sorted(rules.exclude_genres))
        cache = self.__dict__.setdefault("_banned", {})
        if key not in cache:
            cache[key] = banned_items(self.train.catalog, rules)
        return cache[key]


def score_candidates(models: FittedModels, user_idx: np.ndarray, with_reference: bool = True):
    """(Candidates, ranker scores per candidate row); the reference generators' lists too `with_reference`.
    With `ranker_candidates`, only each user's best that many candidates by rank fusion reach the ranker (and
    the returned rows): the ranker's cost is rows x trees."""
    cands = candidates(models.generators, models.context, models.train, user_idx, models.n_candidates,
                       list(models.generators), models.reference if with_reference else None)
    if models.ranker is None:
        return cands, rank_fusion(cands.rows, list(models.generators))
    if models.ranker_candidates:
        fused = rank_fusion(cands.rows, list(models.generators))
        row = cands.rows["row"].to_numpy(dtype=np.int64)
        order = np.lexsort((-fused, row))
        keep = np.zeros(len(row), dtype=bool)
        keep[order[_positions(row[order], len(user_idx)) < models.ranker_candidates]] = True
        cands = replace(cands, rows=cands.rows[keep].reset_index(drop=True))
    return cands, np.asarray(models.ranker.predict(cands.rows), dtype=np.float64)


def recommend_users(models: FittedModels, user_ids: np.ndarray, with_candidates: bool = True) -> pd.DataFrame:
    """Rows of COLUMNS for `user_ids`: every generator's top-N and the ranker's order (unless not
    `with_candidates`: what is published needs neither), and the final list of each experiment variant.

    Unknown users (no training events) get what the non-personal generators retrieve, ranked:
    that is the fallback list. Ids below -1 are segment and genre lists (`audience_lists`). The whole batch
    is ranked, reranked and explained at once.
    """
    audience = user_ids < -1
    if audience.any():
        lists = [audience_lists(models, user_ids[audience])]
        if not audience.all():
            lists.insert(0, recommend_users(models, user_ids[~audience], with_candidates))
        return pd.concat(lists, ignore_index=True)
    user_idx = models.train.user_index(user_ids)
    cands, scores = score_candidates(models, user_idx, with_reference=with_candidates)
    scores = _popularity_for_unknown(cands.rows, user_idx, scores)
    item_ids = models.train.item_ids
    frames = [_rows(name, user_ids, items, best, item_ids) for name, (items, best) in cands.lists.items()] if with_candidates else []
    row = cands.rows["row"].to_numpy(dtype=np.int64)
    order = np.lexsort((-scores, row))          # by user, best first; stable, so ties keep item order
    row, items, scores = row[order], cands.rows["item_idx"].to_numpy(dtype=np.int64)[order], scores[order]
    personal = [f"{g}_rank" for g in models.generators if g not in NON_PERSONAL]
    is_personal = (cands.rows[personal].notna().any(axis=1).to_numpy()[order] if personal
                   else np.zeros(len(row), dtype=bool))
    position = _positions(row, len(user_ids))
    top = (position < models.n_final) & with_candidates
    frames.append(pd.DataFrame({"list_name": RANKER, "user_id": user_ids[row[top]], "rank": position[top] + 1,
                                "movie_id": item_ids[items[top]], "score": scores[top]}))
    ages = np.where(user_idx >= 0, models.user_age[np.maximum(user_idx, 0)], np.nan)
    history = recent_matrix(models.context, user_idx, HISTORY_FOR_REASONS)
    unknown = user_idx < 0
    for variant, rules in [(None, models.rerank), *models.variants.items()]:
        keep = allowed(items, ages[row], models.train.catalog, rules, models.banned(rules))
        for part, part_rules in ((~unknown, rules), (unknown, non_personal(rules))):
            users = np.flatnonzero(part)
            if len(users) == 0:
                continue
            take = keep & part[row]
            frames.append(_final_lists(models, final_list_name(variant), part_rules, user_ids[users], user_idx[users],
                                       history[users], np.searchsorted(users, row[take]), items[take], scores[take],
                                       is_personal[take]))
    out = pd.concat(frames, ignore_index=True)
    for column in ("reason", "slot"):
        if column not in out:
            out[column] = None
    return out.astype({"user_id": np.int64, "rank": np.int32, "movie_id": np.int64, "score": np.float64})[COLUMNS]


def audience_lists(models: FittedModels, audience: np.ndarray) -> pd.DataFrame:
    """Final lists (every variant) of segment and genre audiences (models/segments.py): each audience's best
    items by its own popularity, under the variant's rules for the audience's age, reranked and explained like
    a new user's fallback; "Popular with viewers overall" reads as the audience's own."""
    if models.segments is None:
        raise ValueError("audience lists asked for, but the models have no segments")
    scores, ages, genre = models.segments.lookup(audience)
    items, best = top_n(scores, models.n_candidates)
    row, col = np.nonzero(items >= 0)
    unknown = np.full(len(audience), -1, dtype=np.int64)
    history = np.full((len(audience), HISTORY_FOR_REASONS), -1, dtype=np.int64)
    frames = []
    for variant, rules in [(None, models.rerank), *models.variants.items()]:
        flat = items[row, col]
        keep = allowed(flat, ages[row], models.train.catalog, rules, models.banned(rules))
        frame = _final_lists(models, final_list_name(variant), non_personal(rules), audience, unknown, history, row[keep],
                             flat[keep], best[row, col][keep].astype(np.float64), np.zeros(int(keep.sum()), dtype=bool))
        overall = frame["reason"].to_numpy() == "Popular with viewers overall"
        frames.append(frame.assign(reason=np.where(overall, np.where(
            genre[_row_of(frame["user_id"].to_numpy(), audience)], "Popular in the genres you picked",
            "Popular with viewers like you"), frame["reason"].to_numpy())))
    return pd.concat(frames, ignore_index=True)


def non_personal(rules: RerankConfig) -> RerankConfig:
    """The rules for a list with no personal signal (a new user's fallback, a segment or genre list): its scores are
    its audience's popularity, kept in that order under the business rules (age, excluded genres). MMR, the
    freshness boost, the popularity penalty and slots trade a personal score for variety; on these lists they only
    cost relevance (the fallback as if new measured 0.97-0.99x popularity's NDCG@10 with them: README, New users)."""
    return rules.model_copy(update={"strategy": "mmr", "mmr_lambda": 1.0, "freshness_boost": 0.0, "popularity_penalty": 0.0})


def _row_of(ids: np.ndarray, audience: np.ndarray) -> np.ndarray:
    order = np.argsort(audience)
    return order[np.searchsorted(audience[order], ids)]


def _popularity_for_unknown(rows: pd.DataFrame, user_idx: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Unknown users' candidates ordered by popularity, not by the ranker: it learnt from users with a history,
    and on a user with none its order fell well below plain popularity (synthetic default, NDCG@10 as if new:
    0.014 against popularity's 0.034)."""
    unknown = user_idx[rows["row"].to_numpy(dtype=np.int64)] < 0
    if not unknown.any():
        return scores
    return np.where(unknown, np.nan_to_num(rows["popularity_score"].to_numpy(dtype=np.float64), nan=0.0), scores)


def _positions(row: np.ndarray, n_rows: int) -> np.ndarray:
    """Position of each entry within its run of equal, sorted `row` values (0 = first)."""
    starts = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=n_rows))])
    return np.arange(len(row)) - starts[row]


def _final_lists(models: FittedModels, name: str, rules: RerankConfig, user_ids: np.ndarray, user_idx: np.ndarray,
                 history: np.ndarray, row: np.ndarray, items: np.ndarray, scores: np.ndarray,
                 is_personal: np.ndarray) -> pd.DataFrame:
    """The batch's reranked, explained lists under `rules`, from each user's allowed candidates in ranker order
    (`row` sorted, best first within a row)."""
    position = _positions(row, len(user_ids))
    pool = position < pool_size(models.n_final)
    row, position, items, scores, is_personal = row[pool], position[pool], items[pool], scores[pool], is_personal[pool]
    width = int(position.max()) + 1 if len(position) else 0
    shape = (len(user_ids), width)
    valid = np.zeros(shape, dtype=bool)
    valid[row, position] = True

    def grid(values: np.ndarray, fill) -> np.ndarray:
        out = np.full(shape, fill, dtype=values.dtype)
        out[row, position] = values
        return out

    pool_items = grid(items, 0)
    new, trending = models.is_new(pool_items), models.is_trending(pool_items)
    unit = models.context.item_unit[pool_items]
    sim = np.matmul(unit, unit.transpose(0, 2, 1))
    picked, values, slots = rerank_batch(grid(scores, 0.0), valid, sim, new & valid, trending & valid,
                                         models.context.item_popularity[pool_items], rules, models.n_final)
    r, step = np.nonzero(picked >= 0)
    at = picked[r, step]
    chosen = pool_items[r, at]
    like = most_similar(models.context, np.where(picked >= 0, np.take_along_axis(pool_items, np.maximum(picked, 0), axis=1), -1),
                        history)[r, step]
    texts = reasons(models.context, models.train.catalog.titles, user_idx[r], like, chosen,
                    grid(is_personal, False)[r, at], new[r, at], trending[r, at], models.trending_window_days)
    return pd.DataFrame({"list_name": name, "user_id": user_ids[r], "rank": step + 1, "movie_id": models.train.item_ids[chosen],
                         "score": values[r, step], "reason": texts, "slot": SLOT_NAMES[slots[r, step]]})


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
