"""Time-aware: what viewers watched next after the user's most recent titles (item-to-item transitions).

T[i, j] sums decay ** (k - 1) over every user sequence where j came k <= window steps after i,
row-normalised to P(next = j | i). A user's scores are the recency-weighted sum of the rows of
their last `recent` items, so what they watched last counts most.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from conf.settings import TimeAwareConfig
from models.base import CandidateGenerator
from models.data import TrainingSet, last_items, positive_sequences


class TimeAwareTransitions(CandidateGenerator):
    name = "time_aware"

    def __init__(self, cfg: TimeAwareConfig):
        self.cfg = cfg

    def _fit(self, train: TrainingSet) -> None:
        items, starts = positive_sequences(train)
        owner = np.repeat(np.arange(train.n_users), np.diff(starts))
        src, dst, val = [], [], []
        for k in range(1, self.cfg.window + 1):
            same_user = owner[:-k] == owner[k:]
            src.append(items[:-k][same_user])
            dst.append(items[k:][same_user])
            val.append(np.full(same_user.sum(), self.cfg.decay ** (k - 1), dtype=np.float32))
        n = train.n_items
        counts = sparse.csr_matrix((np.concatenate(val), (np.concatenate(src), np.concatenate(dst))), shape=(n, n),
                                   dtype=np.float32) if src else sparse.csr_matrix((n, n), dtype=np.float32)
        counts.setdiag(0)
        counts.eliminate_zeros()
        out = np.asarray(counts.sum(axis=1)).ravel()
        self.transitions = sparse.diags(1.0 / np.maximum(out, 1e-9)).astype(np.float32) @ counts
        self.transitions = self.transitions.tocsr()
        self._items, self._starts = items, starts

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        recent = last_items(self._items, self._starts, user_idx, self.cfg.recent)       # (users, recent), -1 padded
        rows, cols = np.nonzero(recent >= 0)
        weight = (self.cfg.recency_decay ** np.arange(self.cfg.recent, dtype=np.float32))[cols]
        n_items = self.transitions.shape[0]
        seed = sparse.csr_matrix((weight, (rows, recent[rows, cols])), shape=(len(user_idx), n_items), dtype=np.float32)
        scores = (seed @ self.transitions).toarray()
        scores[user_idx < 0] = -np.inf
        return scores
