"""Reranking a user's ranked candidates: business rules, freshness, diversity (MMR) or slots.

Pure functions over one user's candidate arrays; item-item similarity comes from the caller.
"""

from __future__ import annotations

import numpy as np

from conf.settings import RerankConfig
from models.data import Catalog

SIMILAR, DIVERSE, TRENDING = "similar", "diverse", "trending"
POOL_FACTOR = 3                 # MMR looks at the best 3n candidates


def allowed(items: np.ndarray, user_age: float, catalog: Catalog, cfg: RerankConfig) -> np.ndarray:
    """Business rules: adult titles only for users known to be at least `adult_min_age`; excluded genres."""
    ok = np.ones(len(items), dtype=bool)
    if not (np.isfinite(user_age) and user_age >= cfg.adult_min_age):
        ok &= ~catalog.adult[items]
    if cfg.exclude_genres:
        banned = set(cfg.exclude_genres)
        ok &= np.array([not banned.intersection(catalog.genres[i]) for i in items], dtype=bool)
    return ok


def relevance(scores: np.ndarray, is_new: np.ndarray, popularity: np.ndarray, cfg: RerankConfig) -> np.ndarray:
    """Scores min-max scaled to [0, 1], plus the freshness boost for new releases, minus the popularity
    penalty times the item's popularity percentile (0-1)."""
    span = scores.max() - scores.min() if len(scores) else 0.0
    scaled = (scores - scores.min()) / span if span > 0 else np.ones_like(scores)
    return scaled + cfg.freshness_boost * is_new - cfg.popularity_penalty * popularity


def mmr(rel: np.ndarray, sim: np.ndarray, lam: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy maximal marginal relevance: argmax lam * rel - (1 - lam) * max similarity to those picked.

    rel (m,), sim (m, m); returns (positions into rel in pick order, the MMR value of each pick). The
    values never increase: every candidate's value only falls as the picked set grows.
    """
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


def rerank(items: np.ndarray, scores: np.ndarray, sim_fn, is_new: np.ndarray, is_trending: np.ndarray,
           cfg: RerankConfig, n: int, popularity: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`items`/`scores` sorted best first (already filtered); `popularity` is each item's popularity
    percentile in [0, 1]. Returns (items, scores, slots) of the final list; the scores are the MMR
    values (non-increasing) with the mmr strategy, the adjusted relevance with slots."""
    pool = slice(0, min(len(items), POOL_FACTOR * n))
    popularity = np.zeros(len(items)) if popularity is None else popularity
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


def _slots(rel: np.ndarray, sim: np.ndarray, is_trending: np.ndarray, cfg: RerankConfig, n: int) -> tuple[np.ndarray, list[str]]:
    """Interleave three queues by target share: best relevance, diverse (MMR at 0.5), trending."""
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
