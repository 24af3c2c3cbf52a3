"""The one interface every candidate generator implements."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

import numpy as np
import torch

from models.data import TrainingSet


class CandidateGenerator(ABC):
    """fit on a TrainingSet; recommend top-N unseen items; score (user, item) pairs.

    Subclasses implement `_fit` and `score_users`; `fit` and `recommend` are shared.
    """

    name: str
    fit_seconds: float = 0.0     # how long `fit` took (a model scoring another split without a refit keeps its own)

    def fit(self, train: TrainingSet) -> CandidateGenerator:
        start = time.perf_counter()
        self._train = train
        self._fit(train)
        self.fit_seconds = round(time.perf_counter() - start, 3)
        return self

    @abstractmethod
    def _fit(self, train: TrainingSet) -> None:
        """Learn from `train`; `self._train` is already set."""

    @abstractmethod
    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        """Dense scores, shape (len(user_idx), n_items); higher is better. -1 rows = unknown users. A new array
        each call: the caller may write to it (candidates mask each user's seen items in place)."""

    def recommend(self, user_idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-`n` items per user, the user's training items excluded.

        Returns (items, scores), each (len(user_idx), n), best first; -1 / -inf pad short rows.
        """
        scores = self.score_users(user_idx).astype(np.float32, copy=False)
        return top_n(mask_seen(scores, self._train, user_idx), n)


def mask_seen(scores: np.ndarray, train: TrainingSet, user_idx: np.ndarray) -> np.ndarray:
    """`scores` (len(user_idx), n_items) with each known user's training items set to -inf, in place."""
    known = np.flatnonzero(user_idx >= 0)
    rows, items = train.seen[user_idx[known]].nonzero()
    scores[known[rows], items] = -np.inf
    return scores


def dot_scores(user_vectors: np.ndarray, item_vectors: np.ndarray, user_idx: np.ndarray) -> np.ndarray:
    """user . item for every item, shape (len(user_idx), n_items); -inf rows for unknown users (-1)."""
    scores = user_vectors[np.maximum(user_idx, 0)] @ item_vectors.T
    scores[user_idx < 0] = -np.inf
    return scores


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Best `n` columns of each row of `scores`, sorted descending; -inf entries become item -1.

    torch's top-k, not numpy's argpartition: over 20,000 items it is about 3.5x faster, and retrieval is
    most of a scoring pass."""
    n = min(n, scores.shape[1])
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    if np.isnan(scores).any():      # top-k ranks NaN above everything: a score nobody could give ranks last
        scores = np.where(np.isnan(scores), -np.inf, scores)
    best, items = torch.topk(torch.from_numpy(scores), n, dim=1)
    best, items = best.numpy(), items.numpy()
    return np.where(np.isfinite(best), items, -1), best
