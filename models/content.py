"""Content-based: TF-IDF over each movie's text, users as a time-weighted mean of what they watched.

The text is TMDB's overview, genres, keywords, cast and director when joined, else the MovieLens
title and genres. Every catalog movie has a vector, so new movies with no interactions are scored.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from conf.settings import ContentConfig
from models.base import CandidateGenerator
from models.data import DAY, TrainingSet, positive_sequences


def tfidf_matrix(texts: np.ndarray, max_features: int) -> sparse.csr_matrix:
    """(n_items, vocabulary) TF-IDF rows, L2-normalised."""
    vectorizer = TfidfVectorizer(max_features=max_features, sublinear_tf=True, stop_words="english",
                                 token_pattern=r"(?u)\b[\w'-]{2,}\b", dtype=np.float32)
    return vectorizer.fit_transform(list(texts)).tocsr()


class ContentTfidf(CandidateGenerator):
    name = "content"

    def __init__(self, cfg: ContentConfig):
        self.cfg = cfg

    def _fit(self, train: TrainingSet) -> None:
        self.item_vectors = tfidf_matrix(train.catalog.text, self.cfg.max_features)
        items, starts = positive_sequences(train)
        pos = train.events[train.events["weight"] > 0]
        ts = pos["ts"].to_numpy()
        rows, cols, vals = [], [], []
        for u in range(train.n_users):
            lo, hi = max(starts[u], starts[u + 1] - self.cfg.history), starts[u + 1]
            if hi == lo:
                continue
            age = (ts[hi - 1] - ts[lo:hi]) / DAY
            rows.append(np.full(hi - lo, u))
            cols.append(items[lo:hi])
            vals.append(np.power(0.5, age / self.cfg.half_life_days))
        if rows:
            weights = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                        shape=(train.n_users, train.n_items), dtype=np.float32)
        else:
            weights = sparse.csr_matrix((train.n_users, train.n_items), dtype=np.float32)
        self.profiles = (weights @ self.item_vectors).tocsr()

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        scores = (self.profiles[np.maximum(user_idx, 0)] @ self.item_vectors.T).toarray().astype(np.float32)
        scores[user_idx < 0] = -np.inf
        return scores
