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


@pytest.mark.parametrize("strata", ["activity tercile", "id mod 3", "id block"])
def test_every_stratum_splits_by_the_weights(strata):
    """Assignment stays a pure function of (experiment, user): balanced within any stratum a user attribute makes,
    activity or one that follows the ids, so the readout can post-stratify without stratified assignment."""
    from jobs.experiments.simulate import simulate
    from jobs.experiments.stats import srm

    users = simulate(30_000, seed=5, experiment="exp", weights={"a": 0.7, "b": 0.3})
    groups = {"activity tercile": users["stratum"], "id mod 3": users["user_id"] % 3,
              "id block": users["user_id"] // 10_000}[strata]
    for _, cell in users.groupby(groups.to_numpy()):
        counts = Counter(cell["variant"])
        assert counts["a"] / len(cell) == pytest.approx(0.7, abs=0.015)
        assert not srm({"a": counts["a"], "b": counts["b"]}, {"a": 0.7, "b": 0.3}).flagged
