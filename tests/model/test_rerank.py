"""Reranking: business rules, MMR's effect on diversity, freshness, slots."""

import numpy as np
import pandas as pd

from conf.settings import RerankConfig, SlotsConfig
from models.data import build_catalog
from models.metrics import intra_list_diversity
from models.rerank import DIVERSE, SIMILAR, TRENDING, allowed, mmr, rerank

# Ten items in two tight clusters: 0-4 are near-duplicates, 5-9 too; the two clusters are orthogonal.
UNIT = np.array([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5) + np.linspace(0, 0.01, 10)[:, None]
UNIT = UNIT / np.linalg.norm(UNIT, axis=1, keepdims=True)


def sim(a, b):
    return UNIT[a] @ UNIT[b].T


def _catalog():
    movies = pd.DataFrame({"movie_id": range(4), "title": list("abcd"), "adult": [False, True, False, False],
                           "genres": [["Drama"], ["Drama"], ["Horror"], ["Comedy"]]})
    return build_catalog(movies, np.arange(4))


def test_adult_titles_only_for_users_known_to_be_adults():
    catalog, cfg, items = _catalog(), RerankConfig(adult_min_age=18), np.arange(4)
    assert list(allowed(items, 16, catalog, cfg)) == [True, False, True, True]
    assert list(allowed(items, np.nan, catalog, cfg)) == [True, False, True, True], "unknown age is treated as a minor"
    assert list(allowed(items, 30, catalog, cfg)) == [True, True, True, True]


def test_excluded_genres_are_filtered():
    assert list(allowed(np.arange(4), 30, _catalog(), RerankConfig(exclude_genres=["Horror"]))) == [True, True, False, True]


def test_mmr_raises_intra_list_diversity_and_lambda_one_keeps_relevance_order():
    rel = np.linspace(1.0, 0.5, 10)          # the whole first cluster is more relevant
    pure, _ = mmr(rel, sim(np.arange(10), np.arange(10)), 1.0, 4)
    assert list(pure) == [0, 1, 2, 3]
    mixed, values = mmr(rel, sim(np.arange(10), np.arange(10)), 0.5, 4)
    assert (np.diff(values) <= 0).all(), "served scores follow the list order"
    assert {0, 5} <= set(mixed), "the best of the other cluster is pulled up"
    assert intra_list_diversity(mixed[None, :], UNIT, 4) > intra_list_diversity(pure[None, :], UNIT, 4) + 0.2


def test_freshness_boost_lifts_a_new_release_past_an_equal_old_one():
    items, scores = np.arange(10), np.linspace(1.0, 0.0, 10)   # scaled gaps of 0.11
    new = np.zeros(10, bool)
    new[1] = True
    cfg = RerankConfig(mmr_lambda=1.0, freshness_boost=0.2)
    picked, _, _ = rerank(items, scores, sim, new, np.zeros(10, bool), cfg, 3)
    assert list(picked) == [1, 0, 2]
    picked, _, _ = rerank(items, scores, sim, new, np.zeros(10, bool), cfg.model_copy(update={"freshness_boost": 0.0}), 3)
    assert list(picked) == [0, 1, 2]


def test_slots_follow_the_configured_shares():
    items, scores = np.arange(10), np.linspace(1.0, 0.1, 10)
    trending = np.zeros(10, bool)
    trending[[8, 9]] = True
    cfg = RerankConfig(strategy="slots", slots=SlotsConfig(similar=0.5, diverse=0.3, trending=0.2))
    picked, _, slots = rerank(items, scores, sim, np.zeros(10, bool), trending, cfg, 10)
    assert len(set(picked)) == 10
    assert slots.count(SIMILAR) == 5 and slots.count(DIVERSE) == 3 and slots.count(TRENDING) == 2
    assert {int(i) for i, s in zip(picked, slots) if s == TRENDING} == {8, 9}
    assert picked[0] == 0 and slots[0] == SIMILAR, "the best item opens the list"


def test_popularity_penalty_lifts_the_long_tail():
    items, scores = np.arange(10), np.linspace(1.0, 0.0, 10)
    popularity = np.linspace(1.0, 0.0, 10)        # the best-scored items are also the most popular
    cfg = RerankConfig(mmr_lambda=1.0, freshness_boost=0.0, popularity_penalty=0.0)
    none = np.zeros(10, bool)
    picked, _, _ = rerank(items, scores, sim, none, none, cfg, 3, popularity)
    assert list(picked) == [0, 1, 2]
    picked, _, _ = rerank(items, scores, sim, none, none, cfg.model_copy(update={"popularity_penalty": 2.0}), 3, popularity)
    assert list(picked) == [8, 7, 6], "from the pool of the best 3n (item 9 is outside it)"
