import numpy as np

from models.blend import rrf


def test_items_in_both_lists_rise_and_the_biggest_contributor_explains():
    candidates = {"a": np.array([[1, 2, 3]]), "b": np.array([[3, 4, -1]])}
    items, scores, source = rrf(candidates, {"a": 1.0, "b": 1.0}, rrf_k=1, n=4)
    assert items[0, 0] == 3  # 1/4 + 1/2 beats 1/2
    assert list(items[0]) == [3, 1, 2, 4]
    assert source[0, 0] == 1  # list "b" ranked item 3 first: it explains it
    assert np.all(np.diff(scores[0]) <= 0)


def test_zero_weight_generator_is_ignored_and_short_lists_pad():
    items, _, _ = rrf({"a": np.array([[5, -1]]), "b": np.array([[7, 8]])}, {"a": 1.0, "b": 0.0}, rrf_k=60, n=3)
    assert list(items[0]) == [5, -1, -1]
