"""Top-K ranking metrics on dense index arrays.

recs:     (n_users, >=K) item indices, best first, -1 = padding.
relevant: (n_users, n_items) CSR, nonzero where the item is relevant in the user's test set.
Definitions (binary relevance):
  precision@K  = hits / K
  recall@K     = hits / |relevant|
  NDCG@K       = DCG / ideal DCG over min(|relevant|, K) items, gain 1 / log2(rank + 1)
  hit_rate@K   = 1 if any hit
  coverage@K   = distinct items in all users' top-K / catalog size
  serendipity@K (Ge et al. 2010) = share of the top-K that is relevant AND not in the
                 popularity baseline's top-K for that user
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
