"""The fallback list scored as if every evaluated user were new: without the items each user already has, as every
generator's list is scored, and as served."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from jobs.evaluate import new_user_metrics
from jobs.score import FALLBACK_USER
from models.recommend import FINAL
from models.segments import SEGMENT_BASE


item_ids = np.array([10, 11, 12, 13])
train = SimpleNamespace(n_items=4, item_index=lambda ids: np.searchsorted(item_ids, ids))
seen = sparse.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]))


def test_the_fallback_is_scored_without_each_users_own_items():
    fitted = SimpleNamespace(train=SimpleNamespace(**vars(train), seen=seen), n_final=2, segments=None)
    lists = {FINAL: pd.DataFrame({"user_id": FALLBACK_USER, "rank": [1, 2, 3], "movie_id": [10, 11, 12]}),
             "popularity": pd.DataFrame({"user_id": FALLBACK_USER, "rank": [1, 2, 3, 4], "movie_id": [11, 10, 12, 13]})}
    relevant = sparse.csr_matrix(np.array([[0, 0, 1, 0],     # user 0 has item 10 already: 12 moves up to 2nd
                                           [0, 1, 0, 0]]))   # user 1 has nothing: 11 stays 2nd
    got = new_user_metrics(lists, relevant, np.array([0, 1]), fitted, 2, popularity_ndcg=0.5)
    hit_at_2 = 1 / np.log2(3)
    assert got["ndcg@2_as_if_new"] == pytest.approx(hit_at_2)                 # both users: a hit in 2nd place
    assert got["ndcg@2_as_if_new_unmasked"] == pytest.approx(hit_at_2 / 2)    # user 0's 12 is 3rd as served
    assert got["recall@2_as_if_new"] == pytest.approx(1.0)
    assert got["vs_popularity"] == pytest.approx(hit_at_2 / 0.5, abs=1e-4)
    assert got["full_list"] is True and got["fallback_list_length"] == 3
    # Popularity's own list cut to the fallback's 3 items: [11, 10, 12]; user 0 loses 10, so 12 is 2nd; user 1's 11 is 1st.
    assert got["popularity_ndcg@2_same_length"] == pytest.approx((hit_at_2 + 1) / 2)
    assert got["vs_popularity_same_length"] == pytest.approx(hit_at_2 / ((hit_at_2 + 1) / 2), abs=1e-4)


def test_popularity_cut_to_the_fallbacks_length_is_not_refilled_from_below_it():
    """The same list as the fallback, served the same length: the same score, though user 0 has seen its first item
    and popularity's third item is the one they watch (refilling would have made popularity look better)."""
    fitted = SimpleNamespace(train=SimpleNamespace(**vars(train), seen=seen), n_final=2, segments=None)
    lists = {FINAL: pd.DataFrame({"user_id": FALLBACK_USER, "rank": [1, 2], "movie_id": [10, 11]}),
             "popularity": pd.DataFrame({"user_id": FALLBACK_USER, "rank": [1, 2, 3], "movie_id": [10, 11, 12]})}
    relevant = sparse.csr_matrix(np.array([[0, 0, 1, 0], [0, 1, 0, 0]]))
    got = new_user_metrics(lists, relevant, np.array([0, 1]), fitted, 2, popularity_ndcg=0.5)
    assert got["popularity_ndcg@2_same_length"] == pytest.approx(got["ndcg@2_as_if_new"])
    assert got["vs_popularity_same_length"] == pytest.approx(1.0)


def test_each_user_is_scored_on_their_segments_list_and_the_fallback_without_one():
    segments = SimpleNamespace(names=["gender=F", "gender=M"], user_segment=np.array([1, -1, 0]), shrinkage=np.inf)
    fitted = SimpleNamespace(train=SimpleNamespace(**vars(train), seen=seen), n_final=2, segments=segments)
    lists = {FINAL: pd.DataFrame({"user_id": [FALLBACK_USER] * 2 + [SEGMENT_BASE] * 2 + [SEGMENT_BASE - 1] * 2,
                                  "rank": [1, 2] * 3, "movie_id": [10, 11, 13, 12, 12, 11]}),
             "popularity": pd.DataFrame({"user_id": FALLBACK_USER, "rank": [1, 2], "movie_id": [10, 11]})}
    relevant = sparse.csr_matrix(np.array([[0, 0, 1, 0],     # segment M's list [12, 11]: a hit first
                                           [0, 1, 0, 0],     # no segment: the fallback [10, 11], a hit second
                                           [0, 0, 1, 0]]))   # segment F's [13, 12], 13 already seen: 12 first
    got = new_user_metrics(lists, relevant, np.array([0, 1, 2]), fitted, 2, popularity_ndcg=0.5)["segments"]
    assert got["segments"] == 2 and got["users_with_a_segment"] == 2 and got["attributes"] == ["gender"]
    assert got["shrinkage"] == "overall popularity"
    assert got["ndcg@2_as_if_new"] == pytest.approx((1 + 1 / np.log2(3) + 1) / 3)
