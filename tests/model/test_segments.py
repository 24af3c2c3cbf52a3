"""Segment and genre lists: what users known only by their profile, and onboarding requests, are served."""

import numpy as np
import pandas as pd
import pytest

from models.data import build_training_set
from models.recommend import FINAL, audience_lists, recommend_users
from models.segments import GENRE_BASE, GENRE_PREFIX, SEGMENT_BASE, SEGMENT_PREFIX, age_band, fit_segments, segment_names
from models.training import assemble, fit_generators
from tests.model.test_golden_recommend import CFG, _data


def test_age_bands_and_names():
    assert list(age_band([15, 18, 24, 25, 56, 90, None], [18, 25, 35, 45, 56])) == [
        "<18", "18-24", "18-24", "25-34", "56+", "56+", "unknown"]
    users = pd.DataFrame({"user_id": [1, 2], "gender": ["F", None], "age": [30, np.nan]})
    assert list(segment_names(users, CFG.models.segments)) == ["gender=F|age=25-34", "gender=unknown|age=unknown"]


@pytest.fixture(scope="module")
def planted():
    """The golden data with a gender column, where women (and only they) watch the Romance titles."""
    events, movies, users = _data()
    users = users.assign(gender=np.where(users["user_id"] % 2 == 0, "F", "M"))
    romance = movies.loc[movies["genres"].map(lambda g: "Romance" in g), "movie_id"].to_numpy()
    women = users.loc[users["gender"] == "F", "user_id"].to_numpy()
    rng = np.random.default_rng(3)
    extra = pd.DataFrame({"user_id": np.repeat(women, 5), "movie_id": rng.choice(romance[:5], 5 * len(women)),
                          "event_type": "watch", "value": None,
                          "ts": pd.Timestamp("2026-03-01", tz="UTC")})
    extra = extra.astype({"value": float}).assign(event_id=[f"x{i}" for i in range(len(extra))])
    events = pd.concat([events.astype({"value": float}), extra], ignore_index=True)
    train = build_training_set(events, movies, CFG.interactions)
    generators, reference, _ = fit_generators(train, CFG, CFG.models.als)
    # A few pseudo-events: these segments have tens of users, not MovieLens' thousands.
    cfg = CFG.model_copy(update={"models": CFG.models.model_copy(update={
        "segments": CFG.models.segments.model_copy(update={"shrinkage": 10.0})})})
    return assemble(train, generators, reference, None, cfg, users), romance[:5]


def test_segment_lists_follow_their_segment_and_shrink_to_overall(planted):
    fitted, romance = planted
    seg = fitted.segments
    women = [s for s, n in enumerate(seg.names) if n.startswith("gender=F")]
    men = [s for s, n in enumerate(seg.names) if n.startswith("gender=M")]
    top = lambda s: set(np.argsort(-seg.scores[s])[:5])  # noqa: E731
    planted_items = set(fitted.train.item_index(romance))
    assert all(len(top(s) & planted_items) >= 3 for s in women)
    assert all(len(top(s) & planted_items) <= 2 for s in men)
    # No shrinkage: a segment's own counts; infinite shrinkage: the overall order for every segment.
    overall = fit_segments(fitted.train, pd.DataFrame({"user_id": fitted.train.user_ids, "gender": "F", "age": 30}),
                           CFG.models.segments.model_copy(update={"shrinkage": 1e12}))
    assert len({tuple(np.argsort(-row)[:10]) for row in overall.scores}) == 1


def test_audience_lists_are_every_variants_final_lists_with_their_own_reasons(planted):
    fitted, _ = planted
    seg = fitted.segments
    ids = seg.audience_ids()
    keys = seg.audience_keys()
    assert keys[SEGMENT_BASE].startswith(SEGMENT_PREFIX) and keys[GENRE_BASE].startswith(GENRE_PREFIX)
    lists = audience_lists(fitted, ids)
    assert set(lists["list_name"]) == {FINAL, f"{FINAL}@slots", f"{FINAL}@no_horror"}
    assert set(lists["user_id"]) == set(ids)
    assert (lists.groupby(["list_name", "user_id"]).size() <= fitted.n_final).all()
    # A genre list holds only its genre's movies.
    genre_of = dict(zip(fitted.train.item_ids, fitted.train.catalog.genres))
    for audience, key in keys.items():
        if key.startswith(GENRE_PREFIX):
            genre = key[len(GENRE_PREFIX):].split("|")[0]
            assert all(genre in genre_of[m] for m in lists.loc[lists["user_id"] == audience, "movie_id"])
    # Minors' rules: no adult title in the lists of an unknown or under-18 audience.
    adult = set(fitted.train.item_ids[fitted.train.catalog.adult])
    young = [a for a, key in keys.items() if "age=<18" in key or "age=unknown" in key or "age=" not in key]
    assert not set(lists.loc[lists["user_id"].isin(young), "movie_id"]) & adult
    assert {"Popular with viewers like you", "Popular in the genres you picked"} <= set(lists["reason"])
    # In one batch with users, each keeps its own list.
    mixed = recommend_users(fitted, np.array([fitted.train.user_ids[0], -1, ids[0]]), with_candidates=False)
    assert set(mixed["user_id"]) == {fitted.train.user_ids[0], -1, ids[0]}
    pd.testing.assert_frame_equal(
        mixed[mixed["user_id"] == ids[0]].reset_index(drop=True),
        lists[lists["user_id"] == ids[0]].reset_index(drop=True), check_dtype=False)


def test_shrinkage_is_chosen_on_held_out_users_small_with_a_planted_taste_overall_without_one(planted):
    fitted, _ = planted
    auto = CFG.models.segments.model_copy(update={"shrinkage": None})
    users = pd.DataFrame({"user_id": fitted.train.user_ids, "gender": np.where(fitted.train.user_ids % 2 == 0, "F", "M"),
                          "age": 30})
    chosen = fit_segments(fitted.train, users, auto).shrinkage
    assert np.isfinite(chosen), "the planted taste shows in held-out women's watches"
    # Labels that say nothing of taste (the same users, genders drawn at random): overall popularity.
    events, movies, _ = _data()
    train = build_training_set(events, movies, CFG.interactions)
    noise = pd.DataFrame({"user_id": train.user_ids, "age": 30,
                          "gender": np.random.default_rng(0).choice(["F", "M", "X"], train.n_users)})
    assert fit_segments(train, noise, auto).shrinkage == np.inf
