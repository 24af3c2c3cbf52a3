"""Top-K ranking metrics on dense index arrays, and their bootstrap intervals.

recs:     (n_users, >=K) item indices, best first, -1 = padding.
relevant: (n_users, n_items) CSR, nonzero where the item is relevant in the user's test set.
Definitions (binary relevance):
  precision@K  = hits / K
  recall@K     = hits / |relevant|
  NDCG@K       = DCG / ideal DCG over min(|relevant|, K) items, gain 1 / log2(rank + 1)
  hit_rate@K   = 1 if any hit
  coverage@K   = distinct items in all users' top-K / catalog size
  MAP@K        = mean over users of sum_i hit_i * precision@i / min(|relevant|, K)
  serendipity@K (Ge et al. 2010) = share of the top-K that is relevant AND not in the
                 popularity baseline's top-K for that user
  novelty@K    = mean self-information -log2(p_i) of recommended items, p_i = share of training
                 users who interacted with i
  diversity@K  = intra-list diversity: mean pairwise (1 - cosine) of the top-K's item vectors
  cold_item_recall@N = share of (user, item) relevant test pairs whose item had no training
                 interactions that appear in the user's top-N
  new_release_share@K = share of users whose top-K holds a movie released in the 30 days before the
                 training data ends (`new` marks them)

Intervals: each metric is first broken down by user (`Ratio`: sum of per-user numerators over sum of
per-user denominators, the denominator 1 for a mean over users; `Coverage`: the user x item top-K),
once. A bootstrap resample of users is then a row of resample counts, so all resamples of all ratio
metrics of a list are one matrix product, and coverage is recounted per resample from the top-K
indicator. Lists scored on the same users and the same counts give paired replicates.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import sparse

LEVEL = 0.95


class Ratio(NamedTuple):
    """A metric equal to sum(num) / sum(den) over users; `empty` when no user has a denominator."""

    num: np.ndarray
    den: np.ndarray
    empty: float | None = None


class Coverage(NamedTuple):
    """Distinct items over the users' top-K / catalog size, from the (users x catalog) top-K indicator."""

    top: sparse.csr_matrix


Part = Ratio | Coverage


def _mean(values: np.ndarray) -> Ratio:
    return Ratio(np.asarray(values, dtype=np.float64), np.ones(len(values)))


def _hits(recs: np.ndarray, relevant: sparse.csr_matrix, k: int) -> np.ndarray:
    top = recs[:, :k]
    valid = top >= 0
    rows = np.repeat(np.arange(top.shape[0]), top.shape[1]).reshape(top.shape)
    hits = np.zeros(top.shape, dtype=bool)
    hits[valid] = np.asarray(relevant[rows[valid], top[valid]]).ravel() > 0
    return hits


def top_k_indicator(recs: np.ndarray, k: int, n_catalog: int) -> sparse.csr_matrix:
    top = recs[:, :k]
    rows, cols = np.nonzero(top >= 0)
    indicator = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, top[rows, cols])),
                                  shape=(top.shape[0], n_catalog))
    indicator.sum_duplicates()
    return indicator


def ranking_parts(recs: np.ndarray, relevant: sparse.csr_matrix, k: int, n_catalog: int,
                  baseline: np.ndarray | None = None) -> dict[str, Part]:
    """The metrics of `ranking_metrics`, per user."""
    n_rel = np.asarray(relevant.getnnz(axis=1), dtype=np.float64)
    hits = _hits(recs, relevant, k)
    n_hits = hits.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discounts[: hits.shape[1]]).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(n_rel, k).astype(int) - 1]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    out: dict[str, Part] = {
        f"precision@{k}": _mean(n_hits / k),
        f"recall@{k}": _mean(n_hits / n_rel),
        f"ndcg@{k}": _mean(dcg / ideal),
        f"map@{k}": _mean((hits * precision_at).sum(axis=1) / np.minimum(n_rel, k)),
        f"hit_rate@{k}": _mean(n_hits > 0),
        f"coverage@{k}": Coverage(top_k_indicator(recs, k, n_catalog)),
    }
    if baseline is not None:
        out[f"serendipity@{k}"] = _mean(serendipity_per_user(recs, relevant, baseline, k))
    return out


def point_value(part: Part) -> float | None:
    if isinstance(part, Coverage):
        return float(np.count_nonzero(part.top.getnnz(axis=0)) / part.top.shape[1])
    den = part.den.sum()
    return float(part.num.sum() / den) if den > 0 else part.empty


def ranking_metrics(recs: np.ndarray, relevant: sparse.csr_matrix, k: int, n_catalog: int,
                    baseline: np.ndarray | None = None) -> dict[str, float]:
    """Mean metrics over users (rows). `baseline` is the popularity top-K for serendipity."""
    out = {name: point_value(part) for name, part in ranking_parts(recs, relevant, k, n_catalog, baseline).items()}
    out["users"] = int(recs.shape[0])
    return out


def serendipity_per_user(recs: np.ndarray, relevant: sparse.csr_matrix, baseline: np.ndarray, k: int) -> np.ndarray:
    hits = _hits(recs, relevant, k)
    top, base = recs[:, :k], baseline[:, :k]
    expected = (top[:, :, None] == base[:, None, :]).any(axis=2)
    return (hits & ~expected).sum(axis=1) / k


def serendipity(recs: np.ndarray, relevant: sparse.csr_matrix, baseline: np.ndarray, k: int) -> float:
    return float(np.mean(serendipity_per_user(recs, relevant, baseline, k)))


def novelty_part(recs: np.ndarray, item_share: np.ndarray, k: int) -> Ratio:
    """Pooled over recommended items, not averaged per user: a user's share of the pool is their list length."""
    top = recs[:, :k]
    valid = top >= 0
    information = np.where(valid, -np.log2(item_share[np.maximum(top, 0)]), 0.0)
    return Ratio(information.sum(axis=1), valid.sum(axis=1).astype(np.float64), 0.0)


def new_release_part(recs: np.ndarray, new: np.ndarray, k: int) -> Ratio:
    """Per user: 1 when the top-k holds an item marked in `new`."""
    top = recs[:, :k]
    return _mean(((top >= 0) & new[np.maximum(top, 0)]).any(axis=1).astype(np.float64))


def novelty(recs: np.ndarray, item_share: np.ndarray, k: int) -> float:
    return point_value(novelty_part(recs, item_share, k))


def diversity_part(recs: np.ndarray, unit: np.ndarray, k: int) -> Ratio:
    """Per user with >= 2 items, 1 - mean pairwise cosine of the top-k, from sum_{i != j} u_i.u_j =
    |sum u_i|^2 - sum |u_i|^2: O(users x k x dim) and no k x k block per user."""
    top = recs[:, :k]
    valid = top >= 0
    total = np.zeros((top.shape[0], unit.shape[1]))
    squares = np.zeros(top.shape[0])
    for position in range(top.shape[1]):
        vectors = unit[np.maximum(top[:, position], 0)] * valid[:, position, None]
        total += vectors
        squares += np.einsum("ij,ij->i", vectors, vectors)
    n = valid.sum(axis=1)
    has_pairs = n >= 2
    pairs = np.maximum(n * (n - 1), 1)
    value = np.where(has_pairs, 1.0 - (np.einsum("ij,ij->i", total, total) - squares) / pairs, 0.0)
    return Ratio(value, has_pairs.astype(np.float64), 0.0)


def intra_list_diversity(recs: np.ndarray, unit: np.ndarray, k: int) -> float:
    """Mean over users with >= 2 items of the mean pairwise 1 - cosine among their top-k."""
    return point_value(diversity_part(recs, unit, k))


def coverage_curve(recs: np.ndarray, n_catalog: int, ks: list[int]) -> list[float]:
    return [len(np.unique(recs[:, :k][recs[:, :k] >= 0])) / n_catalog for k in ks]


def cold_item_part(recs: np.ndarray, relevant: sparse.csr_matrix, cold: np.ndarray, n: int) -> Ratio:
    """Pooled over (user, cold item) relevant pairs; None when no relevant test item is cold."""
    cold_relevant = relevant.multiply(cold[None, :].astype(np.int8)).tocsr()
    # multiply keeps the non-cold entries as stored zeros, which getnnz would count as relevant cold pairs.
    cold_relevant.eliminate_zeros()
    return Ratio(_hits(recs, cold_relevant, n).sum(axis=1).astype(np.float64),
                 cold_relevant.getnnz(axis=1).astype(np.float64), None)


def cold_item_recall(recs: np.ndarray, relevant: sparse.csr_matrix, cold: np.ndarray, n: int) -> float | None:
    """None when no relevant test item is cold."""
    return point_value(cold_item_part(recs, relevant, cold, n))


def resample_counts(n_users: int, samples: int, seed: int) -> np.ndarray:
    """(samples, n_users): how often each user is drawn in each bootstrap resample (n_users draws with
    replacement). The same counts for every list make the lists' replicates paired."""
    rng = np.random.default_rng(seed)
    counts = np.empty((samples, n_users))
    for row in counts:
        row[:] = np.bincount(rng.integers(0, n_users, n_users), minlength=n_users)
    return counts


def bootstrap(parts: dict[str, Part], counts: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric's value on each resample of `counts`: (samples,) per metric, NaN where a ratio has
    no denominator in a resample."""
    ratios = [name for name, part in parts.items() if isinstance(part, Ratio)]
    out: dict[str, np.ndarray] = {}
    if ratios:
        # One product for all ratio metrics: the counts matrix is read once per list, not once per metric.
        stacked = np.column_stack([parts[n].num for n in ratios] + [parts[n].den for n in ratios])
        sums = counts @ stacked
        with np.errstate(invalid="ignore", divide="ignore"):
            values = sums[:, :len(ratios)] / sums[:, len(ratios):]
        out.update(zip(ratios, values.T))
    drawn = (counts > 0).astype(np.float32)
    for name, part in parts.items():
        if isinstance(part, Coverage):
            out[name] = coverage_replicates(part.top, drawn)
    return out


def coverage_replicates(top: sparse.csr_matrix, drawn: np.ndarray) -> np.ndarray:
    """Coverage of each resample: an item counts when at least one drawn user has it in their top-K."""
    listed = top[:, np.flatnonzero(top.getnnz(axis=0))]
    appearances = np.asarray(listed.T @ drawn.T)
    return np.count_nonzero(appearances, axis=0) / top.shape[1]


def percentile_interval(replicates: np.ndarray, level: float = LEVEL) -> list[float] | None:
    finite = replicates[np.isfinite(replicates)]
    if not len(finite):
        return None
    lo, hi = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return [float(lo), float(hi)]


def intervals(parts: dict[str, Part], replicates: dict[str, np.ndarray], level: float = LEVEL) -> dict[str, list[float] | None]:
    """Percentile interval of each metric. A resample holds about 63% distinct users, so a distinct-item
    count (coverage) is lower on every resample than on the sample: its spread is kept but centred on
    the point value (and kept within [0, 1]), or the interval would sit wholly below the value it is for."""
    out = {}
    for name, part in parts.items():
        values = replicates[name]
        if isinstance(part, Coverage):
            values = np.clip(values + (point_value(part) - np.mean(values)), 0.0, 1.0)
        out[name] = percentile_interval(values, level)
    return out


def sample_users(user_ids: np.ndarray, max_users: int, seed: int) -> np.ndarray:
    """At most `max_users` of the sorted `user_ids`, drawn without replacement by `seed`, sorted."""
    if len(user_ids) <= max_users:
        return user_ids
    return np.sort(np.random.default_rng(seed).choice(user_ids, max_users, replace=False))


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank among `values` scaled to [0, 1] (1 = the largest); ties keep index order."""
    return np.argsort(np.argsort(values, kind="stable"), kind="stable") / max(len(values) - 1, 1)


def popularity_percentile(recs: np.ndarray, item_count: np.ndarray, k: int) -> np.ndarray:
    """Popularity percentile (0-100, 100 = most popular) of every recommended item in the top-k."""
    top = recs[:, :k]
    return 100.0 * percentile_ranks(item_count)[top[top >= 0]]
