"""A/B assignment: stable per user, split by weight, independent across experiments."""

from collections import Counter

import pytest

from serving.variants import assign, bucket


def test_assignment_is_stable():
    first = [assign("exp", u, ["a", "b"], [0.5, 0.5]) for u in range(1000)]
    assert first == [assign("exp", u, ["a", "b"], [0.5, 0.5]) for u in range(1000)]
    assert assign("exp", 7, ["a", "b"], [1, 1]) == assign("exp", "7", ["a", "b"], [1, 1]), "ids as path strings or ints"


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.9, 0.1], [1, 2, 1]])
def test_split_follows_the_weights(weights):
    names = [f"v{i}" for i in range(len(weights))]
    n = 40_000
    counts = Counter(assign("exp", u, names, weights) for u in range(n))
    for name, weight in zip(names, weights):
        expected = weight / sum(weights)
        assert counts[name] / n == pytest.approx(expected, abs=0.01)


def test_experiments_reshuffle_users():
    a = [assign("exp-1", u, ["a", "b"], [1, 1]) for u in range(2000)]
    b = [assign("exp-2", u, ["a", "b"], [1, 1]) for u in range(2000)]
    agreement = sum(x == y for x, y in zip(a, b)) / len(a)
    assert 0.45 < agreement < 0.55, "a new experiment is independent of the last one"


def test_buckets_are_in_the_unit_interval():
    values = [bucket("exp", u) for u in range(5000)]
    assert 0 <= min(values) and max(values) < 1
