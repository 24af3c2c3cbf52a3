"""Matrix factorisation for implicit feedback: `implicit`'s alternating least squares."""

from __future__ import annotations

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from conf.settings import AlsConfig
from models.base import CandidateGenerator, dot_scores
from models.data import TrainingSet

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

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        return dot_scores(self.user_factors, self.item_factors, user_idx)
