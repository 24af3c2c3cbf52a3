"""A/B readout statistics: Welch, CUPED, sample ratio, post-stratification, power, the decision, and the
simulator they are checked on."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from jobs.experiments.simulate import simulate, true_effect
from jobs.experiments.stats import (Arm, Estimate, cuped, cuped_arms, days_to_detect, decide, post_stratified,
                                    post_stratified_arms, srm, welch,
                                    welch_arms)
from serving.variants import assign

FIFTY_FIFTY = {"control": 0.5, "treatment": 0.5}


def test_welch_by_hand_on_a_tiny_sample():
    e = welch(np.array([1.0, 2.0, 3.0]), np.array([4.0, 6.0, 8.0]))
    # var 1 and 4, n 3 each: se^2 = 1/3 + 4/3; dof = (5/3)^2 / ((1/3)^2 / 2 + (4/3)^2 / 2) = 50/17.
    assert (e.diff, e.mean_control, e.mean_treatment, e.relative_lift) == (4.0, 2.0, 6.0, 2.0)
    assert e.se == pytest.approx(math.sqrt(5 / 3))
    assert e.dof == pytest.approx(50 / 17)
    half = stats.t.ppf(0.975, 50 / 17) * math.sqrt(5 / 3)
    assert (e.ci_low, e.ci_high) == pytest.approx((4 - half, 4 + half))
    assert (e.ci_low, e.ci_high) == pytest.approx((-0.155, 8.155), abs=1e-3)


def test_welch_matches_scipy():
    rng = np.random.default_rng(1)
    c, t = rng.exponential(2.0, 300), rng.exponential(2.4, 250)
    e = welch(c, t, alpha=0.1)
    reference = stats.ttest_ind(t, c, equal_var=False)
    assert e.p_value == pytest.approx(reference.pvalue)
    assert (e.ci_low, e.ci_high) == pytest.approx(tuple(reference.confidence_interval(0.9)))
    assert (e.n_control, e.n_treatment, e.level) == (300, 250, pytest.approx(0.9))


def test_welch_rejects_what_it_cannot_test():
    with pytest.raises(ValueError, match="at least 2 users"):
        welch(np.array([1.0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="constant"):
        welch(np.ones(5), np.ones(5))


def test_relative_lift_is_nan_when_the_control_mean_is_zero():
    assert math.isnan(welch(np.array([-1.0, 1.0]), np.array([0.0, 2.0])).relative_lift)


def test_cuped_removes_the_variance_the_covariate_explains():
    rng = np.random.default_rng(2)
    x = rng.normal(10, 2, 4000)
    y = x + rng.normal(0, 1, 4000) + np.r_[np.zeros(2000), np.full(2000, 0.3)]
    e, plain = cuped(y[:2000], x[:2000], y[2000:], x[2000:]), welch(y[:2000], y[2000:])
    # corr(x, y)^2 = 4 / 5 of the variance goes.
    assert e.variance_reduction == pytest.approx(0.8, abs=0.03)
    assert e.theta == pytest.approx(1.0, abs=0.05)
    assert e.se < 0.5 * plain.se
    assert e.ci_low < 0.3 < e.ci_high
    assert e.diff == pytest.approx(e.mean_treatment - e.mean_control)


def test_cuped_is_welch_when_theta_is_zero():
    rng = np.random.default_rng(3)
    y_c, y_t = rng.poisson(3, 500).astype(float), rng.poisson(3.3, 500).astype(float)
    plain = welch(y_c, y_t).as_dict()
    constant = cuped(y_c, np.full(500, 7.0), y_t, np.full(500, 7.0))
    assert constant.theta == 0 and constant.variance_reduction == pytest.approx(0)
    x = rng.normal(0, 1, 1000)
    y = np.r_[y_c, y_t]
    x -= np.dot(x - x.mean(), y - y.mean()) / np.dot(y - y.mean(), y - y.mean()) * (y - y.mean())  # cov(x, y) = 0
    orthogonal = cuped(y_c, x[:500], y_t, x[500:])
    assert orthogonal.theta == pytest.approx(0, abs=1e-12)
    for e in (constant, orthogonal):
        got = e.as_dict()
        assert {k: got[k] for k in plain if k not in ("theta", "variance_reduction")} == pytest.approx(
            {k: v for k, v in plain.items() if k not in ("theta", "variance_reduction")})


def test_srm_flags_a_52_48_split_and_not_a_small_wobble():
    assert srm({"control": 52_000, "treatment": 48_000}, FIFTY_FIFTY).flagged
    fine = srm({"control": 50_100, "treatment": 49_900}, FIFTY_FIFTY)
    assert not fine.flagged and fine.p_value == pytest.approx(stats.chisquare([50_100, 49_900]).pvalue)
    assert not srm({"a": 30_100, "b": 69_900}, {"a": 0.3, "b": 0.7}).flagged, "weights need not be equal"
    assert srm({"a": 50_000, "b": 50_000}, {"a": 0.3, "b": 0.7}).flagged
    with pytest.raises(ValueError, match="same variants"):
        srm({"control": 10, "other": 10}, FIFTY_FIFTY)


def test_srm_as_dict_is_plain():
    out = srm({"control": 52_000, "treatment": 48_000}, FIFTY_FIFTY).as_dict()
    assert out["observed_share_control"] == pytest.approx(0.52) and out["expected_share_control"] == 0.5
    assert all(type(v) in (float, bool) for v in out.values())


def test_post_stratified_is_welch_with_one_stratum():
    rng = np.random.default_rng(4)
    y = rng.gamma(2.0, 2.0, 6000)
    arm = np.where(rng.random(6000) < 0.5, "control", "treatment")
    strat = post_stratified(y, arm, np.zeros(6000), "control", "treatment")
    plain = welch(y[arm == "control"], y[arm == "treatment"])
    assert (strat.diff, strat.se) == pytest.approx((plain.diff, plain.se))
    assert (strat.ci_low, strat.ci_high, strat.p_value) == pytest.approx((plain.ci_low, plain.ci_high, plain.p_value), rel=1e-3)
    assert strat.dof == math.inf


def test_post_stratified_weights_strata_by_their_share_of_users():
    # Stratum "a" (4 users) has difference 1, stratum "b" (8 users) difference 4; a third arm is ignored.
    frame = pd.DataFrame({"y": [0, 2, 1, 3] + [0, 2, 0, 2, 4, 6, 4, 6] + [100, 100],
                          "arm": ["control", "control", "treatment", "treatment"] + ["control"] * 4 + ["treatment"] * 4
                                 + ["other"] * 2,
                          "stratum": ["a"] * 4 + ["b"] * 8 + ["a", "b"]})
    e = post_stratified(frame["y"], frame["arm"], frame["stratum"], "control", "treatment")
    assert e.diff == pytest.approx(1 / 3 * 1 + 2 / 3 * 4)
    # var per cell: 2 for "a" (n 2), 4/3 for "b" (n 4).
    assert e.se == pytest.approx(math.sqrt((1 / 3) ** 2 * (2 / 2 + 2 / 2) + (2 / 3) ** 2 * (4 / 3 / 4 * 2)))
    assert (e.n_control, e.n_treatment) == (6, 6)


def test_post_stratified_names_a_thin_stratum():
    with pytest.raises(ValueError, match=r"\['b'\]"):
        post_stratified(np.arange(6.0), np.array(["control", "treatment"] * 2 + ["control", "control"]),
                        np.array(["a"] * 4 + ["b"] * 2), "control", "treatment")


def test_days_to_detect():
    # The textbook sample for a standardised effect of 0.2 at alpha 0.05 and 80% power: 392.4 per arm.
    assert days_to_detect(1.0, 1.0, 0.2) == pytest.approx(392.4, abs=0.1)
    base = days_to_detect(4.0, 1000, 0.15)
    assert days_to_detect(4.0, 2000, 0.15) == pytest.approx(base / 2)
    assert days_to_detect(4.0, 1000, 0.075) == pytest.approx(base * 4)
    assert days_to_detect(4.0, 1000, 0.15, power=0.9) > base
    with pytest.raises(ValueError, match="> 0"):
        days_to_detect(1.0, 0, 0.1)


def _estimate(ci_low: float, ci_high: float) -> Estimate:
    diff = (ci_low + ci_high) / 2
    return Estimate(diff=diff, se=(ci_high - ci_low) / 3.92, ci_low=ci_low, ci_high=ci_high, p_value=0.5, dof=math.inf,
                    level=0.95, relative_lift=diff / 5, n_control=10_000, n_treatment=10_000, mean_control=5.0,
                    mean_treatment=5.0 + diff)


BALANCED = srm({"control": 50_000, "treatment": 50_000}, FIFTY_FIFTY)
RUN = {"mde_abs": 0.1, "days_run": 7, "n_per_day_per_arm": 100, "std": 1.0, "max_days": 60}


@pytest.mark.parametrize(("ci", "action", "words"), [
    ((0.05, 0.3), "ship", "above 0"),
    ((-0.3, -0.05), "stop", "lowers"),
    ((-0.04, 0.06), "stop", "rules out the MDE"),
    ((-0.05, 0.2), "keep running", "9 more days"),
])
def test_decide(ci, action, words):
    decision = decide(_estimate(*ci), BALANCED, **RUN)
    assert decision.action == action
    assert words in decision.reason


def test_decide_keep_running_counts_the_days_still_needed():
    decision = decide(_estimate(-0.05, 0.2), BALANCED, **RUN)
    needed = days_to_detect(1.0, 100, 0.1)  # 15.7 days
    assert decision.remaining_days == math.ceil(needed - 7) == 9
    assert decision.as_dict()["remaining_days"] == 9.0


def test_decide_stops_an_experiment_that_cannot_reach_its_mde_in_time():
    decision = decide(_estimate(-0.05, 0.2), BALANCED, **{**RUN, "max_days": 14})
    assert decision.action == "stop" and "Underpowered" in decision.reason
    assert math.isnan(decision.remaining_days)


def test_decide_investigates_a_sample_ratio_mismatch_before_anything_else():
    mismatch = srm({"control": 52_000, "treatment": 48_000}, FIFTY_FIFTY)
    decision = decide(_estimate(0.05, 0.3), mismatch, **RUN)
    assert decision.action == "investigate"
    assert "control 52.0% (expected 50.0%)" in decision.reason


def test_intervals_cover_the_planted_effect_and_cuped_narrows_them():
    covered = {"welch": 0, "cuped": 0}
    narrowing = []
    for seed in range(10):
        frame = simulate(5_000, seed, lift=0.05, experiment=f"test-{seed}")
        c, t = frame[frame["variant"] == "control"], frame[frame["variant"] == "treatment"]
        plain, adjusted = welch(c["y"], t["y"]), cuped(c["y"], c["pre"], t["y"], t["pre"])
        for name, e in (("welch", plain), ("cuped", adjusted)):
            covered[name] += e.ci_low <= true_effect(0.05) <= e.ci_high
        narrowing.append(1 - (adjusted.ci_high - adjusted.ci_low) / (plain.ci_high - plain.ci_low))
    assert covered["welch"] >= 8 and covered["cuped"] >= 8
    assert np.mean(narrowing) >= 0.2


def test_simulate_is_seeded_and_assigns_like_serving():
    weights = {"control": 0.7, "treatment": 0.3}
    frame = simulate(3_000, 5, lift=0.1, weights=weights, experiment="exp-x")
    pd.testing.assert_frame_equal(frame, simulate(3_000, 5, lift=0.1, weights=weights, experiment="exp-x"))
    assert not frame["y"].equals(simulate(3_000, 6, lift=0.1, weights=weights, experiment="exp-x")["y"])
    expected = [assign("exp-x", u, ["control", "treatment"], [0.7, 0.3]) for u in frame["user_id"]]
    assert frame["variant"].tolist() == expected
    assert (frame[["pre", "y"]] >= 0).all().all()


def test_simulate_plants_the_correlation_the_lift_and_the_strata():
    frame = simulate(60_000, 7, lift=0.2, pre_correlation=0.6)
    control = frame[frame["variant"] == "control"]
    assert np.corrcoef(control["pre"], control["y"])[0, 1] == pytest.approx(0.6, abs=0.02)
    means = frame.groupby("variant")["y"].mean()
    assert means["treatment"] - means["control"] == pytest.approx(true_effect(0.2), abs=0.1)
    by_stratum = frame.groupby("stratum")["pre"].agg(["max", "min", "size"])
    assert sorted(by_stratum.index) == [0, 1, 2]
    assert (by_stratum["max"].iloc[:-1].to_numpy() <= by_stratum["min"].iloc[1:].to_numpy()).all(), "terciles of pre"
    assert by_stratum["size"].min() > 0.2 * len(frame)


def test_forced_shares_make_a_sample_ratio_mismatch():
    frame = simulate(50_000, 8, forced_shares={"control": 0.52, "treatment": 0.48})
    counts = frame["variant"].value_counts().to_dict()
    assert counts["control"] / len(frame) == pytest.approx(0.52, abs=0.006)
    assert srm(counts, FIFTY_FIFTY).flagged
    assert not srm(simulate(50_000, 8)["variant"].value_counts().to_dict(), FIFTY_FIFTY).flagged


def test_the_readouts_sums_give_the_same_estimates_as_the_per_user_values():
    """What Spark hands the driver (n and sums per arm) must give what the users' values give."""
    rng = np.random.default_rng(3)
    x_c, x_t = rng.poisson(4, 500).astype(float), rng.poisson(4, 400).astype(float)
    y_c, y_t = x_c + rng.normal(0, 1, 500), x_t + rng.normal(0.3, 1, 400)

    def sums(y, x):
        return Arm.from_sums(len(y), y.sum(), (y * y).sum(), x.sum(), (x * x).sum(), (x * y).sum())

    for got, want in [(welch_arms(sums(y_c, x_c), sums(y_t, x_t)), welch(y_c, y_t)),
                      (cuped_arms(sums(y_c, x_c), sums(y_t, x_t)), cuped(y_c, x_c, y_t, x_t))]:
        for field in ("diff", "se", "ci_low", "ci_high", "p_value", "dof"):
            assert getattr(got, field) == pytest.approx(getattr(want, field), rel=1e-9), field
    # CUPED by hand: Welch on y - theta (x - mean x), theta from the pooled sample
    x, y = np.concatenate([x_c, x_t]), np.concatenate([y_c, y_t])
    theta = np.cov(x, y)[0, 1] / x.var(ddof=1)
    adjusted = y - theta * (x - x.mean())
    by_hand = welch(adjusted[:500], adjusted[500:])
    assert cuped_arms(sums(y_c, x_c), sums(y_t, x_t)).se == pytest.approx(by_hand.se, rel=1e-9)


def test_post_stratified_says_why_it_has_no_interval():
    constant = Arm.of(np.ones(4))
    with pytest.raises(ValueError, match="constant in every stratum"):
        post_stratified_arms({"a": (constant, constant)})
    with pytest.raises(ValueError, match="no stratum"):
        post_stratified_arms({})
