"""A seeded simulated experiment with a known effect, to check the readout statistics against.

Each user has a watch rate drawn from a gamma distribution (heavy-tailed, like real engagement). The
pre-period (`pre`, e.g. watches in the 14 days before) and the experiment period (`y`) are Poisson
counts at that same rate, both with mean PERIOD_MEAN, so `pre` predicts `y` through the rate alone: the
gamma shape is solved so that corr(pre, y) = pre_correlation in the control arm. Treatment multiplies
the user's rate by 1 + lift during the experiment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from serving.variants import assign

PERIOD_MEAN = 5.0  # mean watches per user in each period
DEFAULT_WEIGHTS = {"control": 0.5, "treatment": 0.5}


def true_effect(lift: float) -> float:
    """The planted effect in the units of a difference of means: E[y | treatment] - E[y | control].

    Defined analytically over the population the users are drawn from (lift x PERIOD_MEAN), not on one
    sample's counterfactual: an interval for a difference of means of independently drawn users should
    cover this value at its nominal rate. Dropping users for `forced_shares` does not change it, since
    who is dropped does not depend on their rate.
    """
    return lift * PERIOD_MEAN


def _gamma_shape(pre_correlation: float) -> float:
    # Two Poisson counts of mean m at a shared gamma rate (shape k): corr = m / (m + k), so k = m (1/rho - 1).
    if not 0 < pre_correlation < 1:
        raise ValueError(f"pre_correlation must be in (0, 1), got {pre_correlation}")
    return PERIOD_MEAN * (1 / pre_correlation - 1)


def _kept(variants: np.ndarray, weights: dict[str, float], forced_shares: dict[str, float],
          rng: np.random.Generator) -> np.ndarray:
    """Which users a broken exposure logger keeps so the arms' shares become `forced_shares`: the arm most
    over its weight keeps everyone, each other arm loses a random share of its users."""
    if set(forced_shares) != set(weights):
        raise ValueError(f"forced_shares has {sorted(forced_shares)} but weights {sorted(weights)}; give the same variants")
    total_w, total_f = sum(weights.values()), sum(forced_shares.values())
    ratio = {v: (forced_shares[v] / total_f) / (weights[v] / total_w) for v in weights}
    keep = pd.Series(variants).map({v: r / max(ratio.values()) for v, r in ratio.items()}).to_numpy()
    return rng.random(len(variants)) < keep


def simulate(n_users: int, seed: int, lift: float = 0.0, weights: dict[str, float] | None = None,
             pre_correlation: float = 0.7, experiment: str = "sim",
             forced_shares: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per user: user_id, variant, stratum, pre, y.

    variant: `serving.variants.assign(experiment, user_id, ...)` over `weights` (default 50/50 control /
    treatment; every variant other than "control" gets the lift). stratum: the user's activity tercile
    by `pre`, 0 (least active) to 2; tied users share a tercile. forced_shares: drop users after assignment
    (as a logger losing exposures would) until the arms' shares are these, e.g. {"control": 0.52,
    "treatment": 0.48}; then fewer than n_users rows remain. The same arguments give the same frame.
    """
    weights = weights or DEFAULT_WEIGHTS
    rng = np.random.default_rng(seed)
    names, shares = list(weights), list(weights.values())
    variants = np.array([assign(experiment, u, names, shares) for u in range(n_users)])
    shape = _gamma_shape(pre_correlation)
    rate = rng.gamma(shape, PERIOD_MEAN / shape, n_users)
    pre = rng.poisson(rate)
    y = rng.poisson(rate * np.where(variants == "control", 1.0, 1.0 + lift))
    frame = pd.DataFrame({"user_id": np.arange(n_users), "variant": variants, "pre": pre, "y": y})
    if forced_shares is not None:
        frame = frame[_kept(variants, weights, forced_shares, rng)].reset_index(drop=True)
    tercile = np.ceil(frame["pre"].rank(pct=True) * 3).astype(int) - 1
    return frame.assign(stratum=tercile)[["user_id", "variant", "stratum", "pre", "y"]]
