"""Bootstrap intervals of the ranking metrics, and the paired popularity gate built on them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import sparse

from jobs.evaluate import check_gates
from models.metrics import (
    Coverage,
    Ratio,
    bootstrap,
    diversity_part,
    intervals,
    point_value,
    ranking_metrics,
    ranking_parts,
    resample_counts,
)

N_ITEMS, K = 3000, 10


def lists(n_users: int, seed: int) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Top-2K lists from a skewed catalog, a few padded, and four relevant items per user, about a third of them listed."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, N_ITEMS + 1) ** 0.8
    recs = np.stack([rng.choice(N_ITEMS, 2 * K, replace=False, p=weights / weights.sum()) for _ in range(n_users)])
    recs[:, -3:][rng.random((n_users, 3)) < 0.2] = -1
    rows = np.repeat(np.arange(n_users), 4)
    listed = np.maximum(recs[rows, rng.integers(0, 2 * K, len(rows))], 0)
    cols = np.where(rng.random(len(rows)) < 0.3, listed, rng.integers(0, N_ITEMS, len(rows)))
    relevant = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, N_ITEMS))
    relevant.data[:] = 1
    return recs, relevant


def list_intervals(n_users: int, seed: int = 42, data_seed: int = 0) -> tuple[dict, dict]:
    recs, relevant = lists(n_users, data_seed)
    parts = ranking_parts(recs, relevant, K, N_ITEMS)
    return {m: point_value(p) for m, p in parts.items()}, intervals(parts, bootstrap(parts, resample_counts(n_users, 200, seed)))


def test_every_interval_contains_its_point_value():
    points, bounds = list_intervals(2000)
    assert set(bounds) == {f"{m}@{K}" for m in ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")}
    for metric, (lo, hi) in bounds.items():
        assert lo <= points[metric] <= hi, metric
        assert lo < hi, metric


def test_intervals_narrow_with_more_users():
    """Means over users: about 1 / sqrt(users) as wide (coverage, a set metric, saturates instead: not asserted)."""
    _, few = list_intervals(300)
    _, many = list_intervals(5000)
    for metric in (m for m in few if not m.startswith("coverage")):
        assert many[metric][1] - many[metric][0] < 0.6 * (few[metric][1] - few[metric][0]), metric


def test_intervals_are_deterministic_with_the_seed():
    assert list_intervals(500, seed=7) == list_intervals(500, seed=7)
    assert list_intervals(500, seed=7)[1] != list_intervals(500, seed=8)[1]


def test_each_replicate_is_the_metric_of_a_resample_of_users():
    """The counts-weighted sums and the recounted coverage equal the metrics of the resampled users themselves."""
    recs, relevant = lists(400, 1)
    parts = ranking_parts(recs, relevant, K, N_ITEMS)
    counts = resample_counts(400, 5, 3)
    replicates = bootstrap(parts, counts)
    for b, row in enumerate(counts):
        drawn = np.repeat(np.arange(400), row.astype(int))
        direct = ranking_metrics(recs[drawn], relevant[drawn], K, N_ITEMS)
        for metric in parts:
            assert replicates[metric][b] == pytest.approx(direct[metric]), metric


def test_coverage_interval_is_computed_around_its_point_value():
    """A resample holds about 63% distinct users, so its coverage is lower; the interval keeps the spread around the value."""
    recs, relevant = lists(1000, 2)
    parts = ranking_parts(recs, relevant, K, N_ITEMS)
    replicates = bootstrap(parts, resample_counts(1000, 200, 42))
    coverage, point = replicates[f"coverage@{K}"], point_value(parts[f"coverage@{K}"])
    assert coverage.max() <= point and coverage.std() > 0
    lo, hi = intervals(parts, replicates)[f"coverage@{K}"]
    assert 0 <= lo < point < hi <= 1
    assert hi - lo == pytest.approx(np.percentile(coverage, 97.5) - np.percentile(coverage, 2.5))


def test_ratio_metrics_without_a_denominator_give_no_interval():
    parts = {"cold": Ratio(np.zeros(50), np.zeros(50), None)}
    replicates = bootstrap(parts, resample_counts(50, 30, 0))
    assert point_value(parts["cold"]) is None and intervals(parts, replicates) == {"cold": None}


def test_diversity_per_user_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    unit = rng.normal(size=(30, 5))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    recs = np.stack([rng.permutation(30)[:6] for _ in range(20)])
    recs[0, 1:] = -1   # a single item: no pairs, left out
    recs[1, 3:] = -1
    part = diversity_part(recs, unit, 6)
    for user, row in enumerate(recs):
        items = row[row >= 0]
        if len(items) < 2:
            assert part.den[user] == 0
            continue
        sims = unit[items] @ unit[items].T
        expected = 1 - (sims.sum() - np.trace(sims)) / (len(items) * (len(items) - 1))
        assert part.den[user] == 1 and part.num[user] == pytest.approx(expected)


def gate_config(k: int = 10, factor: float = 1.0, vs_best: float | None = None):
    return SimpleNamespace(evaluation=SimpleNamespace(k=k), gates=SimpleNamespace(
        min={f"ndcg@{k}": 0.01}, min_ndcg_vs_popularity=factor, min_ndcg_vs_best_generator=vs_best),
        experiment=SimpleNamespace(variants={"control": None, "slots": None}))


def gated(final_per_user: np.ndarray, popularity_per_user: np.ndarray, k: int = 10, factor: float = 1.0,
          others: dict[str, np.ndarray] | None = None, vs_best: float | None = None,
          variant: np.ndarray | None = None) -> dict:
    """check_gates on per-user NDCG values of the final, popularity (and `others`) lists, bootstrapped on the same users."""
    ndcg = f"ndcg@{k}"
    counts = resample_counts(len(final_per_user), 200, 42)
    lists = {"popularity": popularity_per_user, **(others or {}), "ranker": final_per_user * 2, "final": final_per_user,
             **({"final@slots": variant} if variant is not None else {})}
    parts = {name: {ndcg: Ratio(values, np.ones(len(values)))} for name, values in lists.items()}
    models = {name: {ndcg: point_value(p[ndcg])} for name, p in parts.items()}
    return check_gates(gate_config(k, factor, vs_best), models, {name: bootstrap(p, counts) for name, p in parts.items()})


def user_ndcg(n_users: int, seed: int) -> np.ndarray:
    """Per-user NDCG as it looks: most users 0, the rest spread over (0, 1]."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n_users) < 0.3, rng.random(n_users), 0.0)


@pytest.mark.parametrize("k", [10, 5])
def test_popularity_gate_blocks_a_clearly_worse_list(k):
    popularity = user_ndcg(3000, 0)
    result = gated(0.8 * popularity, popularity, k)
    paired = result["checks"][-1]
    assert len(result["checks"]) == 2, "no gate against the best generator when it is off"
    assert not paired["passed"] and not result["passed"]
    assert paired["interval"][1] < 0 and paired["difference"] < 0
    assert f"ndcg@{k} >= 1.0 x popularity ndcg@{k}" in paired["gate"] and "paired 95% bootstrap interval" in paired["gate"]


def test_popularity_gate_lets_a_noisy_tie_pass():
    """A list a hair below popularity on these users, well within their noise: the point comparison alone would block it."""
    popularity = user_ndcg(3000, 0)
    rng = np.random.default_rng(1)
    tie = np.clip(popularity + rng.normal(0, 0.2, len(popularity)) * (popularity > 0), 0, 1)
    tie *= popularity.mean() / tie.mean() * 0.995
    result = gated(tie, popularity)
    paired = result["checks"][-1]
    assert paired["value"] < popularity.mean(), "the point value is below the baseline"
    assert paired["interval"][0] < 0 < paired["interval"][1]
    assert paired["passed"] and result["passed"]


def test_popularity_gate_pairs_the_resamples():
    """The same lists, one noisy across users but always 0.01 worse than popularity for every user: a real, small
    regression. Paired resamples see it; unpaired intervals of the two lists would overlap."""
    popularity = user_ndcg(3000, 0) + 0.02
    worse = popularity - 0.01
    result = gated(worse, popularity)
    assert not result["passed"]
    assert result["checks"][-1]["interval"][1] < 0
    counts = resample_counts(3000, 200, 42)
    (lo, _), (_, worse_hi) = (intervals({"n": Ratio(v, np.ones(3000))}, bootstrap({"n": Ratio(v, np.ones(3000))}, counts))["n"]
                                      for v in (popularity, worse))
    assert lo < worse_hi, "each list's own interval overlaps the other's"


def test_coverage_is_a_set_metric_not_a_ratio():
    recs, relevant = lists(100, 0)
    parts = ranking_parts(recs, relevant, K, N_ITEMS)
    assert isinstance(parts[f"coverage@{K}"], Coverage)
    assert all(isinstance(p, Ratio) for m, p in parts.items() if not m.startswith("coverage"))


def test_best_generator_gate_blocks_a_final_list_clearly_below_the_best_single_generator():
    """EASE beats the final list for most users: blocked, against EASE (not popularity, not the ranker's own order)."""
    popularity = user_ndcg(3000, 0)
    ease = popularity * 1.6
    result = gated(popularity * 1.3, popularity, others={"ease": ease, "als": popularity * 1.2}, vs_best=1.0)
    best = result["checks"][-1]
    assert "ease ndcg@10" in best["gate"] and not best["passed"] and not result["passed"]
    assert best["interval"][1] < 0
    assert result["checks"][-2]["passed"], "it clears popularity"


def test_best_generator_gate_lets_a_tie_within_noise_pass():
    popularity = user_ndcg(3000, 0)
    rng = np.random.default_rng(2)
    ease = popularity * 1.5
    final = np.clip(ease + rng.normal(0, 0.2, len(ease)) * (ease > 0), 0, 1)
    final *= ease.mean() / final.mean() * 0.995
    result = gated(final, popularity, others={"ease": ease}, vs_best=1.0)
    best = result["checks"][-1]
    assert best["value"] < ease.mean() and best["interval"][0] < 0 < best["interval"][1]
    assert best["passed"] and result["passed"]


def test_a_variant_below_the_best_generator_is_withheld_and_the_control_still_publishes():
    """The slots arm clearly below EASE: withheld (its checks fail, named by list); the control ties EASE and passes."""
    popularity = user_ndcg(3000, 0)
    ease = popularity * 1.5
    result = gated(ease, popularity, others={"ease": ease}, vs_best=1.0, variant=ease * 0.8)
    failed = [c for c in result["checks"] if not c["passed"]]
    assert result["passed"] and result["withheld"] == ["slots"]
    assert failed and all(c["list"] == "final@slots" for c in failed)
    assert "final@slots ndcg@10 >= 1.0 x ease ndcg@10" in failed[0]["gate"]


def test_a_failing_control_fails_the_run_whatever_the_variants_do():
    popularity = user_ndcg(3000, 0)
    result = gated(popularity * 0.8, popularity, variant=popularity * 1.2)
    assert not result["passed"] and result["withheld"] == []
