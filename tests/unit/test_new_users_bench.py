"""bench/new_users.py on planted data: a segment whose users share a taste beats popularity as if new; one that
says nothing of taste does not."""

import numpy as np
import pandas as pd

from conf import load_config
from tests.conftest import bench_module


def test_segments_with_a_planted_taste_beat_popularity_and_the_others_do_not(capsys):
    rng = np.random.default_rng(0)
    n_users, per_user = 400, 20
    users = pd.DataFrame({"user_id": np.arange(n_users), "gender": np.where(np.arange(n_users) % 2 == 0, "F", "M"),
                          "age": rng.choice([25, 35, 45], n_users), "occupation": rng.choice(["1", "2"], n_users)})
    # Women watch movies 0-59, men 60-119 (each group's favourites first), everyone a little of 120-129.
    women = np.repeat(users["gender"].to_numpy() == "F", per_user)
    own = np.minimum(rng.geometric(1 / 25, len(women)) - 1, 59) + np.where(women, 0, 60)
    movie = np.where(rng.random(len(women)) < 0.2, rng.integers(120, 130, len(women)), own)
    events = pd.DataFrame({"user_id": np.repeat(users["user_id"].to_numpy(), per_user), "movie_id": movie,
                           "value": 5.0, "event_type": "rating",
                           "ts": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**7, len(movie)), unit="s")})
    events = events.drop_duplicates(["user_id", "movie_id"]).reset_index(drop=True)
    events["event_id"] = [f"{i:06d}" for i in range(len(events))]
    cfg = load_config(overrides={"evaluation": {"bootstrap_samples": 20}})

    ratios = bench_module("new_users").evaluate("temporal", events, users, cfg, 0)

    out = capsys.readouterr().out
    assert "popularity generator" in out and "fallback" in out
    assert ratios["gender (2 segments)"] > 1.5, ratios
    assert ratios["occupation (2 segments)"] < 1.2, ratios
    assert 0.5 < ratios["fallback (50 long)"] <= 1.0 + 1e-9, ratios
    assert ratios["gender: best shrinkage on test (x0)"] >= ratios["gender (2 segments)"] - 1e-9
