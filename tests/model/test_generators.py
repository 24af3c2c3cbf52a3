"""Behavioural tests every generator passes: planted patterns come back, seen items never do."""

import numpy as np
import pandas as pd
import pytest

from conf import load_config
from conf.settings import AlsConfig
from models.als import ALSGenerator
from models.data import build_training_set
from models.popularity import TimeDecayedPopularity

CFG = load_config("local", environ={})


def _block_events(n_users=40, n_items=40, held_out_user=0, seed=0):
    """Two taste groups: users < half like items < half, the rest like the rest.

    User 0 has seen every first-half item but item 0, which must come back first.
    """
    rng = np.random.default_rng(seed)
    rows = []
    half_u, half_i = n_users // 2, n_items // 2
    for u in range(n_users):
        items = range(half_i) if u < half_u else range(half_i, n_items)
        for i in items:
            if u == held_out_user and i == 0:
                continue
            if u != held_out_user and rng.random() < 0.25:
                continue
            rows.append({"user_id": u, "movie_id": i, "event_type": "watch", "value": None,
                         "ts": pd.Timestamp("2026-01-01") + pd.Timedelta(hours=int(rng.integers(0, 2000)))})
    return pd.DataFrame(rows)


def _generators():
    return [TimeDecayedPopularity(30.0), ALSGenerator(AlsConfig(factors=2, regularization=0.1, iterations=20, alpha=10), seed=1)]


@pytest.mark.parametrize("generator", _generators(), ids=lambda g: g.name)
def test_seen_items_are_never_recommended(generator):
    events = _block_events()
    train = build_training_set(events, np.arange(40), CFG.interactions)
    generator.fit(train)
    users = np.arange(train.n_users)
    items, _ = generator.recommend(users, 10)
    seen = train.seen.toarray()
    for row, user in enumerate(users):
        picked = items[row][items[row] >= 0]
        assert not seen[user, picked].any()


@pytest.mark.parametrize("generator", _generators(), ids=lambda g: g.name)
def test_score_matches_recommend_order(generator):
    train = build_training_set(_block_events(), np.arange(40), CFG.interactions)
    generator.fit(train)
    items, scores = generator.recommend(np.array([3]), 5)
    pair_scores = generator.score(np.full(5, 3), items[0])
    np.testing.assert_allclose(pair_scores, scores[0], rtol=1e-5)


def test_als_learns_the_planted_taste_groups():
    train = build_training_set(_block_events(), np.arange(40), CFG.interactions)
    als = ALSGenerator(AlsConfig(factors=2, regularization=0.1, iterations=20, alpha=10), seed=1).fit(train)
    items, _ = als.recommend(train.user_index(np.array([0])), 1)
    assert items[0, 0] == train.item_index(np.array([0]))[0], "the held-out item of user 0's group comes back first"
    user = train.user_index(np.array([30]))
    unseen_own_group = {i for i in range(20, 40) if train.seen[user[0], train.item_index(np.array([i]))[0]] == 0}
    top, _ = als.recommend(user, len(unseen_own_group))
    assert set(train.item_ids[top[0]]) == unseen_own_group, "every unseen item of the user's own group ranks above the other group"


def test_als_explains_with_an_item_from_the_users_own_history():
    train = build_training_set(_block_events(), np.arange(40), CFG.interactions)
    als = ALSGenerator(AlsConfig(factors=2, regularization=0.1, iterations=20, alpha=10), seed=1).fit(train)
    reason = als.explain(0, int(train.item_index(np.array([0]))[0]))
    assert reason.kind == "because_you_watched"
    assert train.seen[0, reason.item] == 1
    assert train.item_ids[reason.item] < 20, "the evidence comes from the same taste group"


def test_popularity_decays_old_interactions():
    old = [{"user_id": u, "movie_id": 1, "event_type": "watch", "value": None, "ts": pd.Timestamp("2025-01-01")} for u in range(10)]
    new = [{"user_id": u, "movie_id": 2, "event_type": "watch", "value": None, "ts": pd.Timestamp("2026-01-01")} for u in range(4)]
    train = build_training_set(pd.DataFrame(old + new), np.array([1, 2, 3]), CFG.interactions)
    pop = TimeDecayedPopularity(half_life_days=30).fit(train)
    items, _ = pop.recommend(np.array([-1]), 3)
    assert train.item_ids[items[0, 0]] == 2, "four recent watches beat ten year-old ones"
    assert pop.explain(-1, int(items[0, 0])).count == 4


def test_unknown_users_get_no_personal_candidates_but_do_get_popular_ones():
    train = build_training_set(_block_events(), np.arange(40), CFG.interactions)
    als = ALSGenerator(AlsConfig(factors=4, iterations=3), seed=1).fit(train)
    items, _ = als.recommend(np.array([-1]), 5)
    assert (items == -1).all()
    pop_items, _ = TimeDecayedPopularity().fit(train).recommend(np.array([-1]), 5)
    assert (pop_items >= 0).all()
