"""The per-user recommendation path as it was before it was vectorised (main at 7dbe03b), kept as the
oracle for the golden test: the batch code must give the same lists, order, scores, slots and reasons.

Deliberately slow and loop-shaped; never import it from product code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scipy import sparse

from models.data import DAY, positive_sequences
from models.explain import HISTORY_FOR_REASONS, NON_PERSONAL, trending_text
from models.candidate_features import SIMILAR_DECAY, SIMILAR_HISTORY
from models.recommend import COLUMNS, RANKER, final_list_name, score_candidates

SIMILAR, DIVERSE, TRENDING = "similar", "diverse", "trending"
POOL_FACTOR = 3


def recent_items(items, starts, user_idx, n):
    if user_idx < 0:
        return np.empty(0, dtype=np.int64)
    lo, hi = starts[user_idx], starts[user_idx + 1]
    return items[max(lo, hi - n):hi][::-1]


def content_scores(generator, train, user_idx):
    """ContentTfidf's scores with every user's profile built up front, one user at a time."""
    items, starts = positive_sequences(train)
    ts = train.events[train.events["weight"] > 0]["ts"].to_numpy()
    rows, cols, vals = [], [], []
    for u in range(train.n_users):
        lo, hi = max(starts[u], starts[u + 1] - generator.cfg.history), starts[u + 1]
        if hi == lo:
            continue
        age = (ts[hi - 1] - ts[lo:hi]) / DAY
        rows.append(np.full(hi - lo, u))
        cols.append(items[lo:hi])
        vals.append(np.power(0.5, age / generator.cfg.half_life_days))
    weights = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                shape=(train.n_users, train.n_items), dtype=np.float32)
    profiles = (weights @ generator.item_vectors).tocsr()
    scores = (profiles[np.maximum(user_idx, 0)] @ generator.item_vectors.T).toarray().astype(np.float32)
    scores[user_idx < 0] = -np.inf
    return scores


def time_aware_scores(generator, user_idx):
    """TimeAwareTransitions' scores, seeds gathered one user at a time."""
    rows, cols, vals = [], [], []
    for row, u in enumerate(user_idx):
        if u < 0:
            continue
        last = recent_items(generator._items, generator._starts, int(u), generator.cfg.recent)
        rows.append(np.full(len(last), row))
        cols.append(last)
        vals.append(generator.cfg.recency_decay ** np.arange(len(last), dtype=np.float32))
    n_items = generator.transitions.shape[0]
    seed = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(len(user_idx), n_items), dtype=np.float32)
    scores = (seed @ generator.transitions).toarray()
    scores[user_idx < 0] = -np.inf
    return scores


def similar_history_features(ctx, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max_sim_recent, recency_of_similar) for candidate rows, one user at a time."""
    max_sim, recency = np.zeros(len(items), np.float32), np.zeros(len(items), np.float32)
    known = users >= 0
    for user in np.unique(users[known]):
        picked = np.flatnonzero(users == user)
        history = recent_items(ctx.seq_items, ctx.seq_starts, int(user), SIMILAR_HISTORY)
        if len(history) == 0:
            continue
        sims = ctx.similarity(items[picked], history)
        max_sim[picked] = sims.max(axis=1)
        recency[picked] = (sims * SIMILAR_DECAY ** np.arange(len(history))).max(axis=1)
    return np.where(known, max_sim, np.nan), np.where(known, recency, np.nan)


def allowed(items, user_age, catalog, cfg):
    ok = np.ones(len(items), dtype=bool)
    if not (np.isfinite(user_age) and user_age >= cfg.adult_min_age):
        ok &= ~catalog.adult[items]
    if cfg.exclude_genres:
        banned = set(cfg.exclude_genres)
        ok &= np.array([not banned.intersection(catalog.genres[i]) for i in items], dtype=bool)
    return ok


def relevance(scores, is_new, popularity, cfg):
    span = scores.max() - scores.min() if len(scores) else 0.0
    scaled = (scores - scores.min()) / span if span > 0 else np.ones_like(scores)
    return scaled + cfg.freshness_boost * is_new - cfg.popularity_penalty * popularity


def mmr(rel, sim, lam, n):
    picked, values, available = [], [], np.ones(len(rel), dtype=bool)
    closest = np.full(len(rel), -np.inf)
    for _ in range(min(n, len(rel))):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        value = np.where(available, lam * rel - (1 - lam) * penalty, -np.inf)
        best = int(np.argmax(value))
        picked.append(best)
        values.append(float(value[best]))
        available[best] = False
        closest = np.maximum(closest, sim[best])
    return np.asarray(picked, dtype=np.int64), np.asarray(values)


def rerank(items, scores, sim_fn, is_new, is_trending, cfg, n, popularity):
    pool = slice(0, min(len(items), POOL_FACTOR * n))
    items, scores, is_new, is_trending, popularity = items[pool], scores[pool], is_new[pool], is_trending[pool], popularity[pool]
    if len(items) == 0:
        return items, scores, []
    rel = relevance(scores, is_new, popularity, cfg)
    sim = sim_fn(items, items)
    if cfg.strategy == "mmr":
        order, values = mmr(rel, sim, cfg.mmr_lambda, n)
        by_relevance = np.argsort(np.argsort(-rel, kind="stable"), kind="stable")
        slots = [TRENDING if is_trending[p] else (DIVERSE if by_relevance[p] > pos else SIMILAR)
                 for pos, p in enumerate(order)]
        return items[order], values, slots
    order, slots = _slots(rel, sim, is_trending, cfg, n)
    return items[order], rel[order], slots


def _slots(rel, sim, is_trending, cfg, n):
    n = min(n, len(rel))
    queues = {
        SIMILAR: list(np.argsort(-rel, kind="stable")),
        DIVERSE: list(mmr(rel, sim, 0.5, len(rel))[0]),
        TRENDING: [p for p in np.argsort(-rel, kind="stable") if is_trending[p]],
    }
    share = {SIMILAR: cfg.slots.similar, DIVERSE: cfg.slots.diverse, TRENDING: cfg.slots.trending}
    total = sum(share.values()) or 1.0
    taken, order, slots, count = set(), [], [], dict.fromkeys(share, 0)
    while len(order) < n:
        for slot in sorted(share, key=lambda s: count[s] - share[s] / total * (len(order) + 1)):
            queue = queues[slot]
            while queue and queue[0] in taken:
                queue.pop(0)
            if queue:
                pick = queue.pop(0)
                break
        else:
            break
        taken.add(pick)
        order.append(pick)
        slots.append(slot)
        count[slot] += 1
    return np.asarray(order, dtype=np.int64), slots


def reason(user_idx, history, item, personal, is_new, is_trending, ctx, titles, trending_window_days):
    if len(history) and (personal or is_new):
        like = int(history[int(np.argmax(ctx.similarity(np.array([item]), history)[0]))])
        if is_new:
            return f"New release like {titles[like]}"
        return f"Because you watched {titles[like]}"
    if is_trending:
        return trending_text(trending_window_days)
    if user_idx >= 0:
        genres = ctx.item_genres[item].indices
        if len(genres):
            share = ctx.user_genres[user_idx, genres]
            if share.max() > 0:
                return f"Popular with viewers who like {ctx.genre_names[genres[int(np.argmax(share))]]}"
    return "Popular with viewers overall"


def recommend_users(models, user_ids: np.ndarray) -> pd.DataFrame:
    """The ranker's order and every variant's final list, built one user at a time (no generator lists)."""
    user_idx = models.train.user_index(user_ids)
    cands, scores = score_candidates(models, user_idx)
    unknown = user_idx[cands.rows["row"].to_numpy()] < 0
    scores = np.where(unknown, cands.rows["popularity_score"].fillna(0.0), scores)  # unknown users: popularity's order
    item_ids = models.train.item_ids
    rows = cands.rows.assign(score=scores).sort_values(["row", "score"], ascending=[True, False], kind="mergesort")
    personal = [f"{g}_rank" for g in models.generators if g not in NON_PERSONAL]
    out = []
    for row, group in rows.groupby("row", sort=True):
        u, uid = int(user_idx[row]), int(user_ids[row])
        items, s = group["item_idx"].to_numpy(), group["score"].to_numpy()
        out.append(pd.DataFrame({"list_name": RANKER, "user_id": uid, "rank": np.arange(1, min(len(items), models.n_final) + 1),
                                 "movie_id": item_ids[items[:models.n_final]], "score": s[:models.n_final]}))
        age = models.user_age[u] if u >= 0 else np.nan
        is_personal = group[personal].notna().any(axis=1).to_numpy() if personal else np.zeros(len(group), dtype=bool)
        history = recent_items(models.context.seq_items, models.context.seq_starts, u, HISTORY_FOR_REASONS)
        for variant, rules in [(None, models.rerank), *models.variants.items()]:
            if u < 0:   # no personal signal: popularity's order under the business rules alone
                rules = rules.model_copy(update={"strategy": "mmr", "mmr_lambda": 1.0, "freshness_boost": 0.0,
                                                 "popularity_penalty": 0.0})
            out.append(_final_list(models, final_list_name(variant), rules, u, uid, age, items, s, is_personal, history))
    frame = pd.concat(out, ignore_index=True)
    for column in ("reason", "slot"):
        if column not in frame:
            frame[column] = None
    return frame.astype({"user_id": np.int64, "rank": np.int32, "movie_id": np.int64, "score": np.float64})[COLUMNS]


def _final_list(models, name, rules, u, uid, age, items, scores, is_personal, history):
    keep = allowed(items, age, models.train.catalog, rules)
    items, scores, is_personal = items[keep], scores[keep], is_personal[keep]
    new, trending = models.is_new(items), models.is_trending(items)
    picked, rel, slots = rerank(items, scores, models.context.similarity, new, trending, rules, models.n_final,
                                models.context.item_popularity[items])
    position = {item: p for p, item in enumerate(items)}
    reasons = [reason(u, history, int(i), bool(is_personal[position[i]]), bool(new[position[i]]),
                      bool(trending[position[i]]), models.context, models.train.catalog.titles,
                      models.trending_window_days) for i in picked]
    return pd.DataFrame({"list_name": name, "user_id": uid, "rank": np.arange(1, len(picked) + 1),
                         "movie_id": models.train.item_ids[picked], "score": rel, "reason": reasons, "slot": slots})
