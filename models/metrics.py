"""Top-K ranking metrics on dense index arrays.

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
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


def _hits(recs: np.ndarray, relevant: sparse.csr_matrix, k: int) -> np.ndarray:
    top = recs[:, :k]
    valid = top >= 0
    rows = np.repeat(np.arange(top.shape[0]), top.shape[1]).reshape(top.shape)
    hits = np.zeros(top.shape, dtype=bool)
    hits[valid] = np.asarray(relevant[rows[valid], top[valid]]).ravel() > 0
    return hits


def ranking_metrics(recs: np.ndarray, relevant: sparse.csr_matrix, k: int, n_catalog: int,
                    baseline: np.ndarray | None = None) -> dict[str, float]:
    """Mean metrics over users (rows). `baseline` is the popularity top-K for serendipity."""
    n_rel = np.asarray(relevant.getnnz(axis=1), dtype=np.float64)
    hits = _hits(recs, relevant, k)
    n_hits = hits.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discounts[: hits.shape[1]]).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(n_rel, k).astype(int) - 1]
    top = recs[:, :k]
    out = {
        f"precision@{k}": float(np.mean(n_hits / k)),
        f"recall@{k}": float(np.mean(n_hits / n_rel)),
        f"ndcg@{k}": float(np.mean(dcg / ideal)),
        f"map@{k}": float(np.mean((hits * np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)).sum(axis=1)
                                  / np.minimum(n_rel, k))),
        f"hit_rate@{k}": float(np.mean(n_hits > 0)),
        f"coverage@{k}": float(len(np.unique(top[top >= 0])) / n_catalog),
    }
    if baseline is not None:
        out[f"serendipity@{k}"] = serendipity(recs, relevant, baseline, k)
    out["users"] = int(recs.shape[0])
    return out


def serendipity(recs: np.ndarray, relevant: sparse.csr_matrix, baseline: np.ndarray, k: int) -> float:
    hits = _hits(recs, relevant, k)
    top, base = recs[:, :k], baseline[:, :k]
    expected = (top[:, :, None] == base[:, None, :]).any(axis=2)
    return float(np.mean((hits & ~expected).sum(axis=1) / k))


def novelty(recs: np.ndarray, item_share: np.ndarray, k: int) -> float:
    top = recs[:, :k]
    share = item_share[top[top >= 0]]
    return float(np.mean(-np.log2(share))) if len(share) else 0.0


def intra_list_diversity(recs: np.ndarray, unit: np.ndarray, k: int) -> float:
    """Mean over users with >= 2 items of the mean pairwise 1 - cosine among their top-k."""
    values = []
    for row in recs[:, :k]:
        items = row[row >= 0]
        if len(items) < 2:
            continue
        sims = unit[items] @ unit[items].T
        n = len(items)
        values.append(1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))
    return float(np.mean(values)) if values else 0.0


def coverage_curve(recs: np.ndarray, n_catalog: int, ks: list[int]) -> list[float]:
    return [len(np.unique(recs[:, :k][recs[:, :k] >= 0])) / n_catalog for k in ks]


def cold_item_recall(recs: np.ndarray, relevant: sparse.csr_matrix, cold: np.ndarray, n: int) -> float | None:
    """None when no relevant test item is cold."""
    cold_relevant = relevant.multiply(cold[None, :].astype(np.int8)).tocsr()
    total = cold_relevant.nnz
    if total == 0:
        return None
    return float(_hits(recs, cold_relevant, n).sum() / total)


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank among `values` scaled to [0, 1] (1 = the largest); ties keep index order."""
    return np.argsort(np.argsort(values, kind="stable"), kind="stable") / max(len(values) - 1, 1)


def popularity_percentile(recs: np.ndarray, item_count: np.ndarray, k: int) -> np.ndarray:
    """Popularity percentile (0-100, 100 = most popular) of every recommended item in the top-k."""
    top = recs[:, :k]
    return 100.0 * percentile_ranks(item_count)[top[top >= 0]]
