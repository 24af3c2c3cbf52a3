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


def test_the_fallback_is_scored_without_each_users_own_items():
    item_ids = np.array([10, 11, 12, 13])
    train = SimpleNamespace(n_items=4, item_index=lambda ids: np.searchsorted(item_ids, ids))
    fitted = SimpleNamespace(train=train, n_final=2)
    lists = {FINAL: pd.DataFrame({"user_id": FALLBACK_USER, "rank": [1, 2, 3], "movie_id": [10, 11, 12]}),
             "popularity": pd.DataFrame({"user_id": FALLBACK_USER, "rank": [1, 2, 3, 4], "movie_id": [11, 10, 12, 13]})}
    relevant = sparse.csr_matrix(np.array([[0, 0, 1, 0],     # user 0 has item 10 already: 12 moves up to 2nd
                                           [0, 1, 0, 0]]))   # user 1 has nothing: 11 stays 2nd
    seen = sparse.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 0]]))
    got = new_user_metrics(lists, relevant, seen, fitted, 2, popularity_ndcg=0.5)
    hit_at_2 = 1 / np.log2(3)
    assert got["ndcg@2_as_if_new"] == pytest.approx(hit_at_2)                 # both users: a hit in 2nd place
    assert got["ndcg@2_as_if_new_unmasked"] == pytest.approx(hit_at_2 / 2)    # user 0's 12 is 3rd as served
    assert got["recall@2_as_if_new"] == pytest.approx(1.0)
    assert got["vs_popularity"] == pytest.approx(hit_at_2 / 0.5, abs=1e-4)
    assert got["full_list"] is True and got["fallback_list_length"] == 3
    # Popularity's own list cut to the fallback's 3 items: [11, 10, 12]; user 0 loses 10, so 12 is 2nd; user 1's 11 is 1st.
    assert got["popularity_ndcg@2_same_length"] == pytest.approx((hit_at_2 + 1) / 2)
    assert got["vs_popularity_same_length"] == pytest.approx(hit_at_2 / ((hit_at_2 + 1) / 2), abs=1e-4)
