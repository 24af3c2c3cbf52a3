import numpy as np
import pytest
from scipy import sparse

from models.metrics import cold_item_recall, ranking_metrics, serendipity


def _relevant(rows, n_items):
    data = [(u, i) for u, items in enumerate(rows) for i in items]
    r, c = zip(*data)
    return sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(rows), n_items))


def test_hand_computed_values():
    recs = np.array([[0, 1, 2], [3, 4, -1]])
    relevant = _relevant([[1, 5], [9]], 10)
    m = ranking_metrics(recs, relevant, k=3, n_catalog=10)
    assert m["precision@3"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["recall@3"] == pytest.approx((1 / 2 + 0) / 2)
    ideal = 1 + 1 / np.log2(3)
    assert m["ndcg@3"] == pytest.approx(((1 / np.log2(3)) / ideal + 0) / 2)
    assert m["hit_rate@3"] == pytest.approx(0.5)
    assert m["coverage@3"] == pytest.approx(5 / 10)
    assert m["users"] == 2


def test_perfect_list_scores_one():
    recs = np.array([[2, 1]])
    m = ranking_metrics(recs, _relevant([[1, 2]], 4), k=2, n_catalog=4)
    assert m["ndcg@2"] == pytest.approx(1.0)
    assert m["recall@2"] == pytest.approx(1.0)


def test_serendipity_needs_relevance_and_surprise():
    relevant = _relevant([[1, 2]], 5)
    baseline = np.array([[1, 3]])
    # item 1 is relevant but expected (in the baseline), item 2 relevant and unexpected, 4 neither
    assert serendipity(np.array([[1, 2, 4]]), relevant, baseline, k=3) == pytest.approx(1 / 3)
    assert serendipity(baseline, relevant, baseline, k=2) == 0.0


def test_cold_item_recall_counts_only_relevant_pairs_on_cold_items():
    relevant = sparse.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], dtype=np.int8))
    cold = np.array([False, False, True])
    assert cold_item_recall(np.array([[0, 1], [2, -1]]), relevant, cold, 2) == 1.0
    assert cold_item_recall(np.array([[0, 1], [1, -1]]), relevant, cold, 2) == 0.0
    assert cold_item_recall(np.array([[0, 1], [2, -1]]), relevant, np.zeros(3, dtype=bool), 2) is None


def test_new_release_share_counts_users_with_a_new_movie_in_their_top_k():
    from models.metrics import new_release_part, point_value

    new = np.array([False, False, True, False])
    recs = np.array([[0, 2], [0, 1], [2, -1], [1, 3]])
    assert point_value(new_release_part(recs, new, 2)) == 0.5
    assert point_value(new_release_part(recs, new, 1)) == 0.25, "user 0's new movie is at rank 2"
