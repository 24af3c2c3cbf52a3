"""Trending: items whose viewing grew this week against their recent rate, weighted by freshness."""

from __future__ import annotations

import numpy as np

from conf.settings import TrendingConfig
from models.base import CandidateGenerator
from models.data import DAY, TrainingSet

FRESHNESS_HALF_LIFE_DAYS = 365.0


class Trending(CandidateGenerator):
    """score(i) = viewers_week(i) * growth(i) * freshness(i), zero below `min_viewers` this week.

    growth = (viewers this week + 1) / (weekly viewers over the baseline window + 1): a steady
    favourite scores ~1x its count, a title that is taking off scores several times more.
    freshness halves for every year since release (1 when the release date is unknown).
    """

    name = "trending"

    def __init__(self, cfg: TrendingConfig):
        self.cfg = cfg

    def _fit(self, train: TrainingSet) -> None:
        ev = train.events[train.events["weight"] > 0]
        age_days = (train.as_of - ev["ts"].to_numpy()) / DAY
        pairs = ev[["user_idx", "item_idx"]].assign(age=age_days)

        def viewers(days: float) -> np.ndarray:
            recent = pairs[pairs["age"] <= days].drop_duplicates(["user_idx", "item_idx"])
            return np.bincount(recent["item_idx"], minlength=train.n_items).astype(np.float64)

        week = viewers(self.cfg.window_days)
        baseline = viewers(self.cfg.baseline_days) * self.cfg.window_days / self.cfg.baseline_days
        growth = (week + 1.0) / (baseline + 1.0)
        released_days = (train.as_of - train.catalog.release_ts) / DAY
        freshness = np.where(np.isfinite(released_days),
                             np.power(0.5, np.clip(released_days, 0, None) / FRESHNESS_HALF_LIFE_DAYS), 1.0)
        score = week * growth * freshness
        score[week < self.cfg.min_viewers] = 0.0
        self.item_scores = score.astype(np.float32)
        self.week_viewers = week.astype(np.int64)

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(user_idx), len(self.item_scores))).copy()

    def is_trending(self, item_idx: np.ndarray) -> np.ndarray:
        return self.item_scores[item_idx] > 0
