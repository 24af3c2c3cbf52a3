"""Confidence weights and the catalog the content models read."""

import numpy as np
import pandas as pd

from conf import load_config
from models.data import build_catalog, build_training_set, epoch_seconds, event_weights

CFG = load_config("local", environ={}).interactions


def test_confidence_follows_event_type_rating_and_watch_time():
    events = pd.DataFrame({
        "event_type": ["watch", "watch", "watch", "rating", "skip", "click"],
        "value": [None, None, None, 4.0, None, None],
        "watch_seconds": [1800.0, 7200.0, 3000.0, None, None, None],
    })
    runtime = np.array([120.0, 120.0, np.nan, np.nan, np.nan, np.nan])
    w = event_weights(events, CFG, runtime)
    watch = CFG.weights["watch"]
    np.testing.assert_allclose(w, [0.25 * watch, watch, 0.5 * watch, 0.8 * CFG.rating_weight, 0.0, CFG.weights["click"]],
                               rtol=1e-6)


def test_training_set_joins_runtime_for_watch_weights_and_builds_text():
    movies = pd.DataFrame({"movie_id": [1, 2], "title": ["Heat", "Up"], "runtime": [170.0, 96.0],
                           "genres": [["Crime"], ["Animation", "Family"]], "cast": [["Al Pacino"], None],
                           "overview": ["A heist in Los Angeles.", None]})
    events = pd.DataFrame({"user_id": [7, 7], "movie_id": [1, 2], "event_type": ["watch", "watch"], "value": [None, None],
                           "watch_seconds": [85 * 60.0, 96 * 60.0], "ts": pd.to_datetime(["2026-01-01", "2026-01-02"])})
    train = build_training_set(events, movies, CFG)
    np.testing.assert_allclose(train.weights.toarray()[0], [0.5, 1.0], rtol=1e-5)
    assert "al_pacino" in train.catalog.text[0] and "heist" in train.catalog.text[0]
    assert train.catalog.genres[1] == ("Animation", "Family")


def test_catalog_release_time_falls_back_to_the_year():
    catalog = build_catalog(pd.DataFrame({"movie_id": [1, 2], "year": [1999, None],
                                          "release_date": [None, "2020-05-01"]}), np.array([1, 2, 3]))
    assert pd.Timestamp(catalog.release_ts[0], unit="s") == pd.Timestamp("1999-01-01")
    assert pd.Timestamp(catalog.release_ts[1], unit="s") == pd.Timestamp("2020-05-01")
    assert np.isnan(catalog.release_ts[2]) and catalog.titles[2] == "an unknown title"


def test_event_times_are_seconds_whatever_the_resolution_of_the_timestamps():
    stamps = pd.Series(pd.to_datetime(["2026-03-01T12:00:00Z", "2026-03-02T00:00:00Z"]))
    expected = np.array([pd.Timestamp("2026-03-01T12:00:00Z").timestamp(), pd.Timestamp("2026-03-02T00:00:00Z").timestamp()])
    for unit in ("s", "ms", "us", "ns"):  # DuckDB and Arrow hand pandas microseconds
        np.testing.assert_array_equal(epoch_seconds(stamps.dt.as_unit(unit)), expected, err_msg=unit)
        events = pd.DataFrame({"user_id": [1, 1], "movie_id": [10, 11], "event_type": "watch", "value": None,
                               "ts": stamps.dt.as_unit(unit)})
        assert build_training_set(events, np.array([10, 11]), CFG).as_of == expected[1], unit
    np.testing.assert_array_equal(epoch_seconds(pd.Series(["2026-03-02T00:00:00+00:00", None])), [expected[1], np.nan])
