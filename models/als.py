"""Matrix factorisation for implicit feedback: `implicit`'s alternating least squares."""

from __future__ import annotations

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from conf.settings import AlsConfig
from models.base import CandidateGenerator, Reason, top_n
from models.data import TrainingSet

# How many of the user's strongest training items are searched for "because you watched".
HISTORY_FOR_REASONS = 50


class ALSGenerator(CandidateGenerator):
    """Hu, Koren & Volinsky ALS on confidence = 1 + alpha * weight."""

    name = "als"

    def __init__(self, cfg: AlsConfig, seed: int):
        self.cfg = cfg
        self.seed = seed

    def _fit(self, train: TrainingSet) -> None:
        # implicit runs its own threads; nested BLAS threads only slow it down (and it checks on construction).
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.cfg.factors, regularization=self.cfg.regularization,
                iterations=self.cfg.iterations, alpha=self.cfg.alpha, random_state=self.seed,
            )
            model.fit(train.weights, show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
        self._unit_items = self.item_factors / np.maximum(norms, 1e-9)

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        scores = self.user_factors[np.maximum(user_idx, 0)] @ self.item_factors.T
        scores[user_idx < 0] = -np.inf  # no factors for a user without training events
        return scores

    def similar_items(self, item_idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine neighbours in factor space, shape (len(item_idx), n), the item itself excluded."""
        sims = self._unit_items[item_idx] @ self._unit_items.T
        sims[np.arange(len(item_idx)), item_idx] = -np.inf
        return top_n(sims, n)

    def explain(self, user_idx: int, item_idx: int) -> Reason:
        row = self._train.weights[user_idx]
        history = row.indices[np.argsort(-row.data, kind="stable")[:HISTORY_FOR_REASONS]]
        if len(history) == 0:
            return Reason("popular")
        sims = self._unit_items[history] @ self._unit_items[item_idx]
        return Reason("because_you_watched", item=int(history[int(np.argmax(sims))]))
