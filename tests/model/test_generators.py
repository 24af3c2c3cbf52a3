"""Behavioural tests every generator passes: planted patterns come back, seen items never do."""

import numpy as np
import pandas as pd
import pytest
import torch

from conf import load_config
from conf.settings import AlsConfig, ContentConfig, EaseConfig, SasRecConfig, TimeAwareConfig, TrendingConfig, TwoTowerConfig
from models.als import ALSGenerator
from models.content import ContentTfidf
from models.data import build_training_set
from models.ease import EASE, spd_inverse
from models.popularity import Popularity
from models.sasrec import SasRec
from models.time_aware import TimeAwareTransitions
from models.trending import Trending
from models.two_tower import TwoTower

CFG = load_config("local", environ={})
N_ITEMS = 40
COLD_SPACE, COLD_ROMANCE = 40, 41          # in the catalog, never interacted with


def _catalog():
    """Items < 20 are space films, 20..39 romances; the two cold items one of each."""
    rows = []
    for i in range(N_ITEMS + 2):
        space = i < 20 or i == COLD_SPACE
        rows.append({"movie_id": i, "title": f"Film {i}", "genres": ["Science Fiction"] if space else ["Romance"],
                     "overview": "astronauts explore a distant galaxy aboard a starship" if space
                     else "two strangers fall in love at a wedding in paris",
                     "keywords": ["space", "alien"] if space else ["love", "wedding"], "year": 2020})
    return pd.DataFrame(rows)


def _block_events(n_users=40, held_out_user=0, seed=0):
    """Two taste groups: users < 20 like items < 20, the rest like the rest.

    User 0 has seen every first-half item but item 0, which must come back first.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = range(20) if u < 20 else range(20, N_ITEMS)
        for i in items:
            if u == held_out_user and i == 0:
                continue
            if u != held_out_user and rng.random() < 0.25:
                continue
            rows.append({"user_id": u, "movie_id": i, "event_type": "watch", "value": None,
                         "ts": pd.Timestamp("2026-01-01") + pd.Timedelta(hours=int(rng.integers(0, 2000)))})
    return pd.DataFrame(rows)


def _train(events=None):
    return build_training_set(_block_events() if events is None else events, _catalog(), CFG.interactions)


def _generators():
    return [
        Popularity(30.0),
        Trending(TrendingConfig(window_days=30, baseline_days=90, min_viewers=1)),
        ALSGenerator(AlsConfig(factors=2, regularization=0.1, iterations=20, alpha=10), seed=1),
        EASE(EaseConfig(l2=10.0)),
        ContentTfidf(ContentConfig()),
        TwoTower(TwoTowerConfig(dim=8, content_dim=4, epochs=30, batch_size=64, samples_per_user=10), seed=1),
        TimeAwareTransitions(TimeAwareConfig()),
        SasRec(SasRecConfig(dim=16, layers=1, max_len=16, epochs=5, batch_size=16), seed=1),
    ]


@pytest.mark.parametrize("generator", _generators(), ids=lambda g: g.name)
def test_seen_items_are_never_recommended(generator):
    train = _train()
    generator.fit(train)
    users = np.arange(train.n_users)
    items, _ = generator.recommend(users, 10)
    seen = train.seen.toarray()
    for row, user in enumerate(users):
        picked = items[row][items[row] >= 0]
        assert not seen[user, picked].any()


@pytest.mark.parametrize("generator", [g for g in _generators() if g.name in ("als", "ease", "two_tower", "content")],
                         ids=lambda g: g.name)
def test_personal_generators_learn_the_planted_taste_groups(generator):
    train = _train()
    generator.fit(train)
    user = train.user_index(np.array([30]))
    top, _ = generator.recommend(user, 3)
    assert (train.item_ids[top[0]] >= 20).all(), "a romance fan's top items are romances"
    top, _ = generator.recommend(train.user_index(np.array([0])), 1)
    assert train.item_ids[top[0, 0]] in (0, COLD_SPACE), "user 0's top item is from the space group"


@pytest.mark.parametrize("generator", [g for g in _generators() if g.name in ("als", "ease")], ids=lambda g: g.name)
def test_collaborative_generators_return_the_held_out_item_first(generator):
    train = _train()
    generator.fit(train)
    top, _ = generator.recommend(train.user_index(np.array([0])), 1)
    assert train.item_ids[top[0, 0]] == 0


@pytest.mark.parametrize("generator", [g for g in _generators() if g.name in ("content", "two_tower")], ids=lambda g: g.name)
def test_content_aware_generators_score_cold_movies_by_taste(generator):
    train = _train()
    generator.fit(train)
    space_fan, romance_fan = train.user_index(np.array([5, 30]))
    cold = train.item_index(np.array([COLD_SPACE, COLD_ROMANCE]))
    scores = generator.score_users(np.array([space_fan, romance_fan]))
    assert scores[0, cold[0]] > scores[0, cold[1]], "the space fan prefers the unseen space film"
    assert scores[1, cold[1]] > scores[1, cold[0]], "the romance fan prefers the unseen romance"


def test_time_aware_puts_what_follows_the_last_watch_first():
    """Everyone watches 1 -> 2 -> 3 and 10 -> 11 -> 12; a user who just watched 10 gets 11 first."""
    t0 = pd.Timestamp("2026-01-01")
    rows = []
    for u in range(30):
        for chain in ((1, 2, 3), (10, 11, 12)):
            start = t0 + pd.Timedelta(days=u % 7 + (0 if chain[0] == 1 else 10))
            rows += [{"user_id": u, "movie_id": m, "event_type": "watch", "value": None, "ts": start + pd.Timedelta(hours=h)}
                     for h, m in enumerate(chain)]
    rows += [{"user_id": 99, "movie_id": 1, "event_type": "watch", "value": None, "ts": t0},
             {"user_id": 99, "movie_id": 10, "event_type": "watch", "value": None, "ts": t0 + pd.Timedelta(days=5)}]
    train = _train(pd.DataFrame(rows))
    model = TimeAwareTransitions(TimeAwareConfig(window=2)).fit(train)
    top, _ = model.recommend(train.user_index(np.array([99])), 2)
    assert train.item_ids[top[0, 0]] == 11, "the successor of the most recent watch comes first, not 2"


def _chains(n_users=60, seed=0):
    """Every user walks a cycle of 12 movies (0 -> 1 -> ... -> 11 -> 0) from a random start, 6 to 10 steps;
    the cycle is the only pattern: what comes next depends on the last movie alone."""
    rng = np.random.default_rng(seed)
    t0, rows = pd.Timestamp("2026-01-01"), []
    for u in range(n_users):
        start, length = int(rng.integers(0, 12)), int(rng.integers(6, 11))
        rows += [{"user_id": u, "movie_id": (start + h) % 12, "event_type": "watch", "value": None,
                  "ts": t0 + pd.Timedelta(hours=h)} for h in range(length)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("full_softmax_items", [10000, 4], ids=["full softmax", "sampled softmax"])
def test_sasrec_learns_what_comes_next_and_pickles_with_its_network(full_softmax_items):
    import pickle

    events = _chains()
    train = build_training_set(events, np.arange(20), CFG.interactions)
    model = SasRec(SasRecConfig(dim=16, layers=1, max_len=8, epochs=60, batch_size=16, dropout=0.1,
                                learning_rate=0.01, full_softmax_items=full_softmax_items, negatives=6), seed=1).fit(train)
    last = events.sort_values("ts").groupby("user_id")["movie_id"].last()
    users = train.user_index(last.index.to_numpy())
    top, _ = model.recommend(users, 1)
    expected = (last.to_numpy() + 1) % 12
    assert (train.item_ids[top[:, 0]] == expected).mean() >= 0.9, "the next movie of the cycle comes first"
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(copy.score_users(users), model.score_users(users), rtol=1e-5, atol=1e-5)


def test_sasrec_trains_on_a_user_sample_and_still_scores_every_user():
    train = build_training_set(_chains(), np.arange(20), CFG.interactions)
    model = SasRec(SasRecConfig(dim=8, layers=1, max_len=8, epochs=1, max_train_users=10), seed=1).fit(train)
    assert model.trained_on_users == 10
    scores = model.score_users(np.arange(train.n_users))
    assert np.isfinite(scores[:, :12]).all(), "every user gets scores, not only the 10 it trained on"


def test_sasrec_over_a_later_training_set_reads_its_latest_items_with_the_same_network():
    events = _chains()
    ordered = events.sort_values("ts")
    earlier = ordered.groupby("user_id").head(-1)          # every user's last watch held out
    model = SasRec(SasRecConfig(dim=16, layers=1, max_len=8, epochs=60, batch_size=16, dropout=0.1,
                                learning_rate=0.01), seed=1).fit(build_training_set(earlier, np.arange(20), CFG.interactions))
    later = build_training_set(events, np.arange(20), CFG.interactions)
    moved = model.over(later)
    assert moved._network is model._network, "no second fit"
    assert moved.fit_seconds == model.fit_seconds > 0, "the report's fit seconds are those of the one fit"
    last = ordered.groupby("user_id")["movie_id"].last()
    top, _ = moved.recommend(later.user_index(last.index.to_numpy()), 1)
    assert (later.item_ids[top[:, 0]] == (last.to_numpy() + 1) % 12).mean() >= 0.9, "the movie after the latest one"
    assert model.over(build_training_set(events, np.arange(21), CFG.interactions)) is None, "another catalogue: refit"


def test_trending_prefers_growth_over_steady_popularity():
    """Item 1: 10 viewers a week for a month. Item 2: 1 a week, then 8 this week."""
    t0 = pd.Timestamp("2026-03-01")
    rows = [{"user_id": 100 * w + u, "movie_id": 1, "event_type": "watch", "value": None, "ts": t0 - pd.Timedelta(days=7 * w + 1)}
            for w in range(4) for u in range(10)]
    rows += [{"user_id": 1000 + w, "movie_id": 2, "event_type": "watch", "value": None, "ts": t0 - pd.Timedelta(days=7 * w + 1)}
             for w in range(1, 4)]
    rows += [{"user_id": 2000 + u, "movie_id": 2, "event_type": "watch", "value": None, "ts": t0 - pd.Timedelta(days=1)}
             for u in range(8)]
    rows += [{"user_id": 1, "movie_id": 3, "event_type": "watch", "value": None, "ts": t0}]
    train = _train(pd.DataFrame(rows))
    trending = Trending(TrendingConfig(window_days=7, baseline_days=28, min_viewers=3)).fit(train)
    top, _ = trending.recommend(np.array([-1]), 2)
    assert train.item_ids[top[0, 0]] == 2
    assert not trending.is_trending(train.item_index(np.array([3])))[0], "one viewer is below min_viewers"


def test_popularity_decays_old_interactions():
    old = [{"user_id": u, "movie_id": 1, "event_type": "watch", "value": None, "ts": pd.Timestamp("2025-01-01")} for u in range(10)]
    new = [{"user_id": u, "movie_id": 2, "event_type": "watch", "value": None, "ts": pd.Timestamp("2026-01-01")} for u in range(4)]
    train = build_training_set(pd.DataFrame(old + new), np.array([1, 2, 3]), CFG.interactions)
    pop = Popularity(half_life_days=30).fit(train)
    items, _ = pop.recommend(np.array([-1]), 3)
    assert train.item_ids[items[0, 0]] == 2, "four recent watches beat ten year-old ones"
    items, _ = Popularity().fit(train).recommend(np.array([-1]), 3)
    assert train.item_ids[items[0, 0]] == 1, "with no half-life (the default) ten watches beat four, however old"


@pytest.mark.parametrize("generator", [g for g in _generators() if g.name not in ("popularity", "trending")], ids=lambda g: g.name)
def test_unknown_users_get_no_personal_candidates(generator):
    train = _train()
    items, _ = generator.fit(train).recommend(np.array([-1]), 5)
    assert (items == -1).all()
    pop_items, _ = Popularity().fit(train).recommend(np.array([-1]), 5)
    assert (pop_items >= 0).all()


def test_two_tower_trains_on_a_user_sample_and_still_serves_every_user():
    train = _train()
    sampled = TwoTower(TwoTowerConfig(dim=8, content_dim=4, epochs=30, batch_size=64, samples_per_user=10,
                                      max_train_users=16), seed=1).fit(train)
    assert sampled.trained_on_users == 16
    assert np.linalg.norm(sampled.user_vectors, axis=1).min() > 0.99, "every user has a (unit) vector"
    top, _ = sampled.recommend(train.user_index(np.array([30])), 3)
    assert (train.item_ids[top[0]] >= 20).all(), "a romance fan still gets romances from towers trained on 16 users"


def test_two_tower_steps_stop_growing_with_users_at_the_sample_cap(monkeypatch):
    steps = []
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: steps.append(1))
    cfg = dict(dim=8, content_dim=4, epochs=2, batch_size=16, samples_per_user=10)
    TwoTower(TwoTowerConfig(**cfg), seed=1).fit(_train())
    uncapped = len(steps)
    steps.clear()
    TwoTower(TwoTowerConfig(**cfg, max_samples_per_epoch=64), seed=1).fit(_train())
    assert len(steps) == 2 * (64 // 16) < uncapped


@pytest.mark.parametrize("l2, dtype", [(500.0, np.float32), (0.01, np.float64)])
def test_eases_cholesky_inverse_equals_the_general_inverse(l2, dtype):
    """float32 while the condition number's bound allows it (a large l2), float64 otherwise: either way the inverse."""
    rng = np.random.default_rng(0)
    x = (rng.random((400, 120)) < 0.1).astype(np.float64)
    gram = x.T @ x + l2 * np.eye(120)
    inverse = spd_inverse(gram, l2)
    assert inverse.dtype == dtype
    np.testing.assert_allclose(inverse, np.linalg.inv(gram), rtol=1e-4, atol=1e-6 * np.abs(np.linalg.inv(gram)).max())
    np.testing.assert_array_equal(inverse, inverse.T)
