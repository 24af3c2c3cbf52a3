"""Reranking ranked candidates: business rules, freshness, diversity (MMR) or slots.

Batch functions over padded (users, pool) arrays: a batch of users is reranked at once, one numpy
step per list position, never a Python loop per user. `valid` marks the real entries of each row
(rows are padded on the right). Item-item similarity comes from the caller.
"""

from __future__ import annotations

import numpy as np

from conf.settings import RerankConfig
from models.data import Catalog

SIMILAR, DIVERSE, TRENDING = "similar", "diverse", "trending"
SLOT_NAMES = np.array([SIMILAR, DIVERSE, TRENDING], dtype=object)
POOL_FACTOR = 3                 # MMR looks at the best 3n candidates


def banned_items(catalog: Catalog, cfg: RerankConfig) -> np.ndarray:
    """(n_items,) True for items in an excluded genre."""
    if not cfg.exclude_genres:
        return np.zeros(len(catalog.genres), dtype=bool)
    banned = set(cfg.exclude_genres)
    return np.fromiter((bool(banned.intersection(g)) for g in catalog.genres), dtype=bool, count=len(catalog.genres))


def allowed(items: np.ndarray, user_age, catalog: Catalog, cfg: RerankConfig, banned: np.ndarray | None = None) -> np.ndarray:
    """Business rules: adult titles only for users known to be at least `adult_min_age`; excluded genres.

    `user_age` is one age or one per item (NaN = unknown, treated as a minor); `banned` is
    `banned_items(catalog, cfg)`, computed once per catalog by callers that rerank many batches."""
    age = np.broadcast_to(np.asarray(user_age, dtype=np.float64), items.shape)
    adult_ok = np.isfinite(age) & (age >= cfg.adult_min_age)
    banned = banned_items(catalog, cfg) if banned is None else banned
    return (adult_ok | ~catalog.adult[items]) & ~banned[items]


def relevance(scores: np.ndarray, is_new: np.ndarray, popularity: np.ndarray, cfg: RerankConfig,
              valid: np.ndarray) -> np.ndarray:
    """Each row's scores min-max scaled to [0, 1] over its valid entries, plus the freshness boost for new
    releases, minus the popularity penalty times the item's popularity percentile (0-1)."""
    lo = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
    hi = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True)
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(span > 0, (scores - lo) / np.where(span > 0, span, 1.0), 1.0)
    return np.where(valid, scaled + cfg.freshness_boost * is_new - cfg.popularity_penalty * popularity, -np.inf)


def mmr(rel: np.ndarray, sim: np.ndarray, lam: float, n: int, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy maximal marginal relevance: argmax lam * rel - (1 - lam) * max similarity to those picked.

    rel (u, m), sim (u, m, m); returns (positions into each row in pick order, -1 past the row's valid
    entries; the MMR value of each pick). The values never increase: every candidate's value only falls
    as the picked set grows. A 1-d `rel` (one user) gives 1-d results.
    """
    if rel.ndim == 1:
        picked, values = mmr(rel[None], sim[None], lam, n, None if valid is None else valid[None])
        keep = picked[0] >= 0
        return picked[0][keep], values[0][keep]
    users, m = rel.shape
    valid = np.ones_like(rel, dtype=bool) if valid is None else valid
    steps = min(n, m)
    picked = np.full((users, steps), -1, dtype=np.int64)
    values = np.full((users, steps), -np.inf)
    available = valid.copy()
    closest = np.full(rel.shape, -np.inf)
    rows = np.arange(users)
    for step in range(steps):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        value = np.where(available, lam * rel - (1 - lam) * penalty, -np.inf)
        best = np.argmax(value, axis=1)
        got = available[rows, best]
        r, b = rows[got], best[got]
        picked[r, step] = b
        values[r, step] = value[r, b]
        available[r, b] = False
        closest[r] = np.maximum(closest[r], sim[r, b])
    return picked, values


def rerank(items: np.ndarray, scores: np.ndarray, sim_fn, is_new: np.ndarray, is_trending: np.ndarray,
           cfg: RerankConfig, n: int, popularity: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One user's list: `items`/`scores` sorted best first (already filtered). Returns (items, scores,
    slots) of the final list; see `rerank_batch`."""
    popularity = np.zeros(len(items)) if popularity is None else popularity
    pool = slice(0, min(len(items), pool_size(n)))
    items, scores, is_new, is_trending, popularity = items[pool], scores[pool], is_new[pool], is_trending[pool], popularity[pool]
    valid = np.ones((1, len(items)), dtype=bool)
    sim = sim_fn(items, items)[None] if len(items) else np.zeros((1, 0, 0))
    picked, values, slots = rerank_batch(scores[None], valid, sim, is_new[None], is_trending[None],
                                         popularity[None], cfg, n)
    keep = picked[0] >= 0
    return items[picked[0][keep]], values[0][keep], list(SLOT_NAMES[slots[0][keep]])


def pool_size(n: int) -> int:
    return POOL_FACTOR * n


def rerank_batch(scores: np.ndarray, valid: np.ndarray, sim: np.ndarray, is_new: np.ndarray, is_trending: np.ndarray,
                 popularity: np.ndarray, cfg: RerankConfig, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rerank a batch of users' pools: every (u, m) array holds a user's best candidates in ranker order,
    `valid` marking the real ones (at most `pool_size(n)`), `sim` (u, m, m) their item-item similarity,
    `popularity` each item's popularity percentile in [0, 1].

    Returns (positions into the pool, values, slot codes into SLOT_NAMES), each (u, min(n, m)), -1 past a
    user's list. Values are the MMR values (non-increasing) with the mmr strategy, the adjusted relevance
    with slots."""
    if scores.shape[1] == 0:
        empty = np.full((len(scores), 0), -1, dtype=np.int64)
        return empty, empty.astype(np.float64), empty
    rel = relevance(scores, is_new, popularity, cfg, valid)
    if cfg.strategy == "mmr":
        order, values = mmr(rel, sim, cfg.mmr_lambda, n, valid)
        by_relevance = np.argsort(np.argsort(-rel, axis=1, kind="stable"), axis=1, kind="stable")
        safe = np.maximum(order, 0)
        rank = np.take_along_axis(by_relevance, safe, axis=1)
        slots = np.where(np.take_along_axis(is_trending, safe, axis=1), 2,
                         np.where(rank > np.arange(order.shape[1]), 1, 0))
        return order, values, np.where(order >= 0, slots, -1)
    order, slots = _slots(rel, sim, is_trending, valid, cfg, n)
    values = np.where(order >= 0, np.take_along_axis(rel, np.maximum(order, 0), axis=1), -np.inf)
    return order, values, slots


def _slots(rel: np.ndarray, sim: np.ndarray, is_trending: np.ndarray, valid: np.ndarray, cfg: RerankConfig,
           n: int) -> tuple[np.ndarray, np.ndarray]:
    """Interleave three queues by target share: best relevance, diverse (MMR at 0.5), trending.

    At each position the slot furthest behind its share (ties: similar, diverse, trending) takes the
    first item of its queue not yet taken; an exhausted queue passes to the next slot."""
    users, m = rel.shape
    by_rel = np.argsort(-rel, axis=1, kind="stable")          # invalid entries (rel -inf) sort last
    by_rel = np.where(np.take_along_axis(valid, by_rel, axis=1), by_rel, -1)
    trending_first = np.argsort(~np.take_along_axis(is_trending & valid, np.maximum(by_rel, 0), axis=1), axis=1, kind="stable")
    trending_q = np.take_along_axis(by_rel, trending_first, axis=1)
    trending_q = np.where(np.take_along_axis(is_trending & valid, np.maximum(trending_q, 0), axis=1) & (trending_q >= 0),
                          trending_q, -1)
    queues = np.stack([by_rel, mmr(rel, sim, 0.5, m, valid)[0], trending_q], axis=1)   # (u, 3, m)
    share = np.array([cfg.slots.similar, cfg.slots.diverse, cfg.slots.trending], dtype=np.float64)
    total = share.sum() or 1.0
    steps = min(n, m)
    length = np.minimum(valid.sum(axis=1), steps)
    order = np.full((users, steps), -1, dtype=np.int64)
    slots = np.full((users, steps), -1, dtype=np.int64)
    taken = np.zeros((users, m + 1), dtype=bool)               # column m stands for "no item" (-1)
    taken[:, m] = True
    count = np.zeros((users, 3), dtype=np.int64)
    rows = np.arange(users)
    for step in range(steps):
        active = step < length
        preference = np.argsort(count - share / total * (step + 1), axis=1, kind="stable")       # (u, 3)
        open_ = ~np.take_along_axis(taken, np.where(queues >= 0, queues, m).reshape(users, -1), axis=1).reshape(users, 3, m)
        has = open_.any(axis=2)                                                                 # (u, 3)
        head = np.take_along_axis(queues, open_.argmax(axis=2)[:, :, None], axis=2)[:, :, 0]     # (u, 3)
        ranked_has = np.take_along_axis(has, preference, axis=1)
        choice = np.take_along_axis(preference, ranked_has.argmax(axis=1)[:, None], axis=1)[:, 0]
        active &= ranked_has.any(axis=1)
        pick = head[rows, choice]
        r = rows[active]
        order[r, step] = pick[active]
        slots[r, step] = choice[active]
        taken[r, pick[active]] = True
        count[r, choice[active]] += 1
    return order, slots
