"""Reciprocal-rank fusion of several generators' top-N lists into one final list.

A stand-in for the learned ranker: score(u, i) = sum_g w_g / (k + rank_g(u, i)), rank from 1.
"""

from __future__ import annotations

import numpy as np


def rrf(candidates: dict[str, np.ndarray], weights: dict[str, float], rrf_k: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fuse per-generator item lists for one batch of users.

    candidates: name -> (n_users, N) item indices, best first, -1 = padding.
    Returns (items, scores, top_source) of shape (n_users, n): fused lists best first
    (-1 padded) and, per item, the index (into `candidates`' order) of the generator that
    contributed most to its score, which is the one asked to explain it.
    """
    names = list(candidates)
    n_users = next(iter(candidates.values())).shape[0]
    items_out = np.full((n_users, n), -1, dtype=np.int64)
    scores_out = np.full((n_users, n), -np.inf, dtype=np.float32)
    source_out = np.full((n_users, n), -1, dtype=np.int64)
    for row in range(n_users):
        total: dict[int, float] = {}
        best: dict[int, tuple[float, int]] = {}
        for g, name in enumerate(names):
            w = weights.get(name, 0.0)
            if w <= 0:
                continue
            for rank, item in enumerate(candidates[name][row], start=1):
                if item < 0:
                    break
                part = w / (rrf_k + rank)
                total[item] = total.get(item, 0.0) + part
                if part > best.get(item, (-1.0, -1))[0]:
                    best[item] = (part, g)
        ranked = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        for col, (item, score) in enumerate(ranked):
            items_out[row, col] = item
            scores_out[row, col] = score
            source_out[row, col] = best[item][1]
    return items_out, scores_out, source_out
