"""EASE (Steck 2019): a closed-form item-item linear model, the strongest simple baseline on MovieLens."""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from conf.settings import EaseConfig
from models.base import CandidateGenerator
from models.data import TrainingSet


class EASE(CandidateGenerator):
    """B = argmin ||X - XB||^2 + l2 ||B||^2 with diag(B) = 0, closed form from (X'X + l2 I)^-1.

    X is the binary user x item matrix of positive events. The n^2 matrix covers only items with at
    least `min_item_users` users (at most `max_items`, most popular first); the rest score -inf.
    """

    name = "ease"

    def __init__(self, cfg: EaseConfig):
        self.cfg = cfg

    def _fit(self, train: TrainingSet) -> None:
        x = (train.weights > 0).astype(np.float64).tocsc()
        users_per_item = np.asarray(x.sum(axis=0)).ravel()
        eligible = np.flatnonzero(users_per_item >= self.cfg.min_item_users)
        order = np.argsort(-users_per_item[eligible], kind="stable")[: self.cfg.max_items]
        self.items = np.sort(eligible[order])
        sub = x[:, self.items]
        gram = (sub.T @ sub).toarray()
        gram[np.diag_indices_from(gram)] += self.cfg.l2
        inverse = spd_inverse(gram, self.cfg.l2)
        b = inverse / (-np.diag(inverse))
        b[np.diag_indices_from(b)] = 0.0
        self.b = b.astype(np.float32)
        self._x = (train.weights > 0).astype(np.float32).tocsr()[:, self.items]

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        out = np.full((len(user_idx), self._train.n_items), -np.inf, dtype=np.float32)
        known = user_idx >= 0
        if known.any() and len(self.items):
            block = np.asarray(self._x[user_idx[known]] @ self.b)
            sub = out[known]
            sub[:, self.items] = block
            out[known] = sub
        return out


def spd_inverse(gram: np.ndarray, l2: float) -> np.ndarray:
    """Inverse of X'X + l2 I (`gram`, X non-negative, l2 > 0: symmetric positive definite, its eigenvalues at least
    l2 and at most its largest row sum) through its Cholesky factor: LAPACK's potrf and potri take about n^3 flops
    where a general inverse (LU) takes 2n^3, and at 10,000 items this inverse is most of EASE's fit. In float32
    (half the time again) while the condition number's bound (largest row sum / l2) keeps float32's error under
    1e-3 relative; in float64 above it, or where float32 loses positive definiteness."""
    bound = float(gram.sum(axis=1).max()) / l2
    kinds = [(lapack.spotrf, lapack.spotri)] if bound * np.finfo(np.float32).eps < 1e-3 else []
    for potrf, potri in [*kinds, (lapack.dpotrf, lapack.dpotri)]:
        factor, info = potrf(gram, lower=False, clean=True)
        if info == 0:
            upper, info = potri(factor, lower=False, overwrite_c=True)
            if info == 0:
                upper = np.triu(upper)
                upper += np.triu(upper, 1).T
                return upper
    raise np.linalg.LinAlgError("X'X + l2 I is not positive definite (l2 must be > 0)")
