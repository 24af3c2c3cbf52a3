"""Feature-store values aligned to a training set: rows to users, the stored genre order to the catalog's."""

import numpy as np
import pandas as pd

from conf.settings import InteractionsConfig
from models.data import build_training_set
from models.candidate_features import STORE_AFFINITY, store_features

INTERACTIONS = InteractionsConfig(weights={"watch": 1.0})


def _train():
    events = pd.DataFrame({"user_id": [1, 2, 3], "movie_id": [10, 11, 10], "event_type": "watch", "value": np.nan,
                           "ts": pd.to_datetime(["2026-03-01", "2026-03-02", "2026-03-03"])})
    movies = pd.DataFrame({"movie_id": [10, 11], "genres": [["Drama"], ["Comedy", "Horror"]]})
    return build_training_set(events, movies, INTERACTIONS)  # catalog genres: Comedy, Drama, Horror


def test_rows_land_on_their_users_and_the_genre_vector_is_reordered_to_the_catalogs():
    at = pd.Timestamp("2026-03-11", tz="UTC")
    frame = pd.DataFrame({
        "user_id": [3, 1, 99],               # 99 is not a training user; user 2 has no row
        "event_timestamp": [at, at, at],
        "events_total": [4, 2, 7],
        "first_event_at": [at.timestamp() - 10 * 86400, at.timestamp() - 2 * 86400, 0.0],
        "last_event_at": [at.timestamp() - 86400, at.timestamp() - 86400, 0.0],
        "genre_affinity": [[0.0, 0.25, 0.75, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
    })
    store = store_features(frame, _train(), ["Drama", "Horror", "Comedy", "Western"])
    values = dict(zip(store.names, store.values.T))
    np.testing.assert_array_equal(values["store_events_total"], [2, np.nan, 4])
    np.testing.assert_array_equal(values["store_days_since_first"], [2, np.nan, 10])
    np.testing.assert_array_equal(values["store_days_since_last"], [1, np.nan, 1])
    np.testing.assert_allclose(store.affinity[0], [0.0, 1.0, 0.0])      # Comedy, Drama, Horror
    np.testing.assert_allclose(store.affinity[2], [0.75, 0.0, 0.25])
    assert np.isnan(store.affinity[1]).all()
    assert store.pair_names[-1] == STORE_AFFINITY


def test_no_store_means_no_store_features():
    store = store_features(None, _train(), [])
    assert store.names == [] and store.pair_names == [] and store.values.shape == (3, 0)
