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
from models.data import TrainingSet, positive_sequences, recent_items


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

    def seeds(self, user_idx: int) -> tuple[np.ndarray, np.ndarray]:
        """The user's last `recent` positive items, most recent first, and their recency weights."""
        last = recent_items(self._items, self._starts, user_idx, self.cfg.recent)
        return last, self.cfg.recency_decay ** np.arange(len(last), dtype=np.float32)

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        rows, cols, vals = [], [], []
        for row, u in enumerate(user_idx):
            if u < 0:
                continue
            last, weight = self.seeds(int(u))
            rows.append(np.full(len(last), row))
            cols.append(last)
            vals.append(weight)
        n_items = self.transitions.shape[0]
        if not rows:
            return np.full((len(user_idx), n_items), -np.inf, dtype=np.float32)
        seed = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                 shape=(len(user_idx), n_items), dtype=np.float32)
        scores = (seed @ self.transitions).toarray()
        scores[user_idx < 0] = -np.inf
        return scores
