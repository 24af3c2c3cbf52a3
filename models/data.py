"""The training view every generator fits on: a user x item confidence matrix plus the raw events."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from conf.settings import InteractionsConfig
from data_contracts import columns as C



@dataclass(frozen=True)
class TrainingSet:
    """Interactions indexed densely.

    user_ids: (n_users,) external user ids, row order of the matrices.
    item_ids: (n_items,) external movie ids of the whole catalog, column order.
    weights:  (n_users, n_items) CSR float32, summed confidence of positive-weight events.
    seen:     (n_users, n_items) CSR int8, 1 where the user had any event (incl. skip/dismiss).
    events:   one row per event with user_idx, item_idx, weight, ts (epoch seconds).
    as_of:    epoch seconds of the latest event: "now" for time-decayed models.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    weights: sparse.csr_matrix
    seen: sparse.csr_matrix
    events: pd.DataFrame
    as_of: float

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_index(self, ids: np.ndarray) -> np.ndarray:
        """Row of each external user id; -1 for users with no training events."""
        return _lookup(self.user_ids, np.asarray(ids, dtype=np.int64))

    def item_index(self, ids: np.ndarray) -> np.ndarray:
        """Column of each external movie id; -1 for movies outside the catalog."""
        return _lookup(self.item_ids, np.asarray(ids, dtype=np.int64))


def _lookup(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    if len(sorted_ids) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1)


def event_weights(events: pd.DataFrame, cfg: InteractionsConfig) -> np.ndarray:
    """Confidence of each event: per-type weight; ratings scale with value / 5."""
    base = events[C.EVENT_TYPE].map(cfg.weights).fillna(0.0).to_numpy(dtype=np.float64)
    is_rating = (events[C.EVENT_TYPE] == "rating").to_numpy()
    rating = pd.to_numeric(events[C.VALUE], errors="coerce").fillna(0.0).to_numpy(dtype=np.float64) / 5.0 * cfg.rating_weight
    return np.where(is_rating, rating, base).astype(np.float32)


def is_relevant(events: pd.DataFrame, cfg: InteractionsConfig) -> np.ndarray:
    """Relevant = rating >= min_relevant_rating, or any positive (implicit) event type."""
    value = pd.to_numeric(events[C.VALUE], errors="coerce").fillna(0.0).to_numpy()
    rated_high = (events[C.EVENT_TYPE] == "rating").to_numpy() & (value >= cfg.min_relevant_rating)
    positive = events[C.EVENT_TYPE].isin(cfg.positive_event_types).to_numpy()
    return rated_high | positive


def build_training_set(events: pd.DataFrame, catalog_ids: np.ndarray, cfg: InteractionsConfig) -> TrainingSet:
    """`events` has user_id, movie_id, event_type, value, ts (datetime64); items outside the catalog are added."""
    user_ids = np.unique(events[C.USER_ID].to_numpy(dtype=np.int64))
    item_ids = np.unique(np.concatenate([np.asarray(catalog_ids, dtype=np.int64), events[C.MOVIE_ID].to_numpy(dtype=np.int64)]))
    rows = np.searchsorted(user_ids, events[C.USER_ID].to_numpy(dtype=np.int64))
    cols = np.searchsorted(item_ids, events[C.MOVIE_ID].to_numpy(dtype=np.int64))
    weight = event_weights(events, cfg)
    shape = (len(user_ids), len(item_ids))
    weights = sparse.csr_matrix((weight, (rows, cols)), shape=shape, dtype=np.float32)
    weights.eliminate_zeros()
    seen = sparse.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=shape)
    seen.data[:] = 1
    ts = pd.to_datetime(events[C.TS], utc=True).astype("int64").to_numpy() / 1e9
    frame = pd.DataFrame({"user_idx": rows, "item_idx": cols, "weight": weight, "ts": ts})
    return TrainingSet(user_ids, item_ids, weights, seen, frame, float(ts.max()) if len(ts) else 0.0)
