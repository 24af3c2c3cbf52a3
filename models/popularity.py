"""Popularity: weighted interaction counts over the training window, optionally time-decayed (exponential half-life)."""

from __future__ import annotations

import numpy as np

from models.base import CandidateGenerator
from models.data import DAY, TrainingSet


class Popularity(CandidateGenerator):
    """score(i) = sum over events on i of weight * 0.5 ** (age_days / half_life_days); no decay when
    `half_life_days` is None (the default: what was popular lately is the trending generator's).

    The same list for everyone (minus what each user has seen); also the fallback for
    unknown users and the baseline that serendipity is measured against.
    """

    name = "popularity"

    def __init__(self, half_life_days: float | None = None):
        self.half_life_days = half_life_days

    def _fit(self, train: TrainingSet) -> None:
        ev = train.events
        age_days = (train.as_of - ev["ts"].to_numpy()) / DAY
        decay = 1.0 if self.half_life_days is None else np.power(0.5, age_days / self.half_life_days)
        decayed = ev["weight"].to_numpy() * decay
        self.item_scores = np.bincount(ev["item_idx"], weights=decayed, minlength=train.n_items).astype(np.float32)

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(user_idx), len(self.item_scores))).copy()
