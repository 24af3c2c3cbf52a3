"""Evaluation on a sample: `evaluation.max_users` of the eligible users, the same ones on every run with the seed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from jobs import runs
from jobs.score import users_to_score
from models.metrics import sample_users
from tests.conftest import tiny_config


def lookup(sorted_ids: np.ndarray):
    def index(ids):
        ids = np.asarray(ids, dtype=np.int64)
        at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
        return np.where(sorted_ids[at] == ids, at, -1)
    return index


def test_sample_users_draws_exactly_max_users_sorted_and_the_same_with_the_seed():
    users = np.arange(1000, 6000, 5)
    sample = sample_users(users, 300, seed=42)
    assert len(sample) == 300 and len(np.unique(sample)) == 300
    assert (np.diff(sample) > 0).all() and set(sample) <= set(users)
    assert (sample == sample_users(users, 300, seed=42)).all()
    assert (sample != sample_users(users, 300, seed=43)).any()
    assert (sample_users(users, 5000, seed=42) == users).all(), "all of them when there are no more than max_users"


@pytest.fixture
def run(tmp_path):
    """A run's test events: users 0-199 trained; relevant events for the even ones (two movies for users
    divisible by 4); user 1000 untrained; user 1 relevant only on a movie outside the catalog."""
    users = np.arange(200)
    train = SimpleNamespace(user_ids=users, user_index=lookup(users), item_index=lookup(np.arange(50)))
    rows = [(u, u % 50, True) for u in users if u % 2 == 0] + [(u, (u + 1) % 50, True) for u in users if u % 4 == 0]
    rows += [(u, 3, False) for u in users] + [(1000, 1, True), (1, 999, True)]
    events = pd.DataFrame(rows, columns=["user_id", "movie_id", "relevant"])

    def with_config(**evaluation):
        cfg = tiny_config(tmp_path, evaluation=evaluation)
        path = runs.test_path(cfg, "r")
        path.parent.mkdir(parents=True, exist_ok=True)
        events.to_parquet(path)
        return cfg
    return with_config, SimpleNamespace(train=train)


def test_eval_users_are_the_eligible_ones_when_they_fit(run):
    with_config, fitted = run
    assert (users_to_score(with_config(), "r", "eval", fitted) == np.arange(0, 200, 2)).all()
    two_movies = with_config(min_relevant_test_events=2)
    assert (users_to_score(two_movies, "r", "eval", fitted) == np.arange(0, 200, 4)).all()
    assert (users_to_score(with_config(max_users=10), "r", "full", fitted) == np.arange(200)).all(), "full: no sample"


def test_eval_users_are_a_seeded_sample_of_max_users(run):
    with_config, fitted = run
    cfg = with_config(max_users=30)
    sample = users_to_score(cfg, "r", "eval", fitted)
    assert len(sample) == 30 and (np.diff(sample) > 0).all() and set(sample) <= set(range(0, 200, 2))
    assert (sample == users_to_score(cfg, "r", "eval", fitted)).all()
    other_seed = tiny_config(cfg.workdir, evaluation={"max_users": 30}, seed=cfg.seed + 1)
    assert (sample != users_to_score(other_seed, "r", "eval", fitted)).any()
