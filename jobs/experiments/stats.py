"""Statistics of an A/B readout: the effect of treatment over control with its interval, the sample
ratio check, the days of traffic still needed, and the decision a person acts on.

Inputs are per-user metric values (one number per user, e.g. watches during the experiment), one
array per arm. Every estimate is treatment - control in the metric's units, with a two-sided interval
at level 1 - alpha. Pure functions: arrays in, frozen dataclasses out; `as_dict()` gives plain Python
values for JSON, MLflow or a Delta row.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

Action = Literal["ship", "stop", "keep running", "investigate"]


@dataclass(frozen=True)
class Estimate:
    """treatment - control: `diff` in the metric's units, `relative_lift` = diff / mean_control (nan when
    the control mean is 0), interval [ci_low, ci_high] at `level`. `dof` is inf for a normal interval;
    `theta` and `variance_reduction` are set by CUPED only."""

    diff: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    dof: float
    level: float
    relative_lift: float
    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    theta: float = math.nan
    variance_reduction: float = math.nan

    def as_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}


@dataclass(frozen=True)
class SrmResult:
    """Chi-square goodness of fit of the users per variant against the configured weights."""

    chi2: float
    p_value: float
    threshold: float
    flagged: bool
    observed_shares: dict[str, float] = field(default_factory=dict)
    expected_shares: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float | bool]:
        out: dict[str, float | bool] = {"chi2": float(self.chi2), "p_value": float(self.p_value),
                                        "threshold": float(self.threshold), "flagged": bool(self.flagged)}
        out.update({f"observed_share_{name}": float(v) for name, v in self.observed_shares.items()})
        out.update({f"expected_share_{name}": float(v) for name, v in self.expected_shares.items()})
        return out


@dataclass(frozen=True)
class Decision:
    """What to do with the experiment and why, in one sentence; `remaining_days` only when it keeps running."""

    action: Action
    reason: str
    remaining_days: float = math.nan

    def as_dict(self) -> dict[str, float | str]:
        return {"action": self.action, "reason": self.reason, "remaining_days": float(self.remaining_days)}


@dataclass(frozen=True)
class Arm:
    """One arm's sufficient statistics: users, mean and variance (ddof 1) of the metric y, and of a pre-experiment
    covariate x with cov(x, y). The readout reduces users to these on Spark (jobs/experiments/outcomes.py), so
    nothing on the driver grows with users; the array functions below reduce to them too."""

    n: int
    mean: float
    var: float
    mean_x: float = 0.0
    var_x: float = 0.0
    cov_xy: float = 0.0

    @classmethod
    def of(cls, y: np.ndarray, x: np.ndarray | None = None) -> Arm:
        y = np.asarray(y, dtype=np.float64)
        x = np.zeros_like(y) if x is None else np.asarray(x, dtype=np.float64)
        n = len(y)
        if n < 2:
            return cls(n, float(y.mean()) if n else math.nan, math.nan)
        return cls(n, float(y.mean()), float(y.var(ddof=1)), float(x.mean()), float(x.var(ddof=1)),
                   float(np.cov(x, y)[0, 1]))

    @classmethod
    def from_sums(cls, n: int, y: float, yy: float, x: float = 0.0, xx: float = 0.0, xy: float = 0.0) -> Arm:
        """From n and the sums of y, y^2, x, x^2 and x*y."""
        my, mx = y / n, x / n
        if n < 2:
            return cls(n, my, math.nan, mx)
        return cls(n, my, max(yy - n * my * my, 0.0) / (n - 1), mx, max(xx - n * mx * mx, 0.0) / (n - 1),
                   (xy - n * mx * my) / (n - 1))


def _pooled(a: Arm, b: Arm) -> Arm:
    """The two arms as one sample (within- plus between-arm spread)."""
    n = a.n + b.n
    my, mx = (a.n * a.mean + b.n * b.mean) / n, (a.n * a.mean_x + b.n * b.mean_x) / n
    var = ((a.n - 1) * a.var + (b.n - 1) * b.var + a.n * (a.mean - my) ** 2 + b.n * (b.mean - my) ** 2) / (n - 1)
    var_x = ((a.n - 1) * a.var_x + (b.n - 1) * b.var_x + a.n * (a.mean_x - mx) ** 2 + b.n * (b.mean_x - mx) ** 2) / (n - 1)
    cov = ((a.n - 1) * a.cov_xy + (b.n - 1) * b.cov_xy + a.n * (a.mean_x - mx) * (a.mean - my)
           + b.n * (b.mean_x - mx) * (b.mean - my)) / (n - 1)
    return Arm(n, my, var, mx, var_x, cov)


def _relative(diff: float, mean_control: float) -> float:
    return diff / mean_control if mean_control != 0 else math.nan


def welch(control: np.ndarray, treatment: np.ndarray, alpha: float = 0.05) -> Estimate:
    """Difference of means with the Welch (unequal variances) standard error and Welch-Satterthwaite
    degrees of freedom; interval and two-sided p-value from Student's t."""
    return welch_arms(Arm.of(control), Arm.of(treatment), alpha)


def welch_arms(c: Arm, t: Arm, alpha: float = 0.05) -> Estimate:
    """`welch` from each arm's n, mean and variance."""
    if c.n < 2 or t.n < 2:
        raise ValueError(f"welch needs at least 2 users per arm, got control={c.n}, treatment={t.n}")
    vc, vt = c.var / c.n, t.var / t.n
    if vc + vt == 0:
        raise ValueError("welch: the metric is constant in both arms, so it has no standard error; check the metric")
    diff, se = t.mean - c.mean, math.sqrt(vc + vt)
    dof = (vc + vt) ** 2 / (vc**2 / (c.n - 1) + vt**2 / (t.n - 1))
    half = float(stats.t.ppf(1 - alpha / 2, dof)) * se
    return Estimate(diff=diff, se=se, ci_low=diff - half, ci_high=diff + half,
                    p_value=float(2 * stats.t.sf(abs(diff) / se, dof)), dof=float(dof), level=1 - alpha,
                    relative_lift=_relative(diff, c.mean), n_control=c.n, n_treatment=t.n,
                    mean_control=c.mean, mean_treatment=t.mean)


def cuped(y_c: np.ndarray, x_c: np.ndarray, y_t: np.ndarray, x_t: np.ndarray, alpha: float = 0.05) -> Estimate:
    """CUPED (Deng et al., WSDM 2013): Welch on y - theta (x - mean x), x a pre-experiment covariate.

    theta = cov(x, y) / var(x) and mean x are pooled over both arms: x predates the treatment, so the
    adjustment has mean zero in each arm and the difference stays unbiased while its variance shrinks by
    about corr(x, y)^2. theta = 0 when x is constant. The means reported are the adjusted arm means, so
    diff = mean_treatment - mean_control; `variance_reduction` = 1 - var(y_adj) / var(y), pooled.
    """
    return cuped_arms(Arm.of(y_c, x_c), Arm.of(y_t, x_t), alpha)


def cuped_arms(c: Arm, t: Arm, alpha: float = 0.05) -> Estimate:
    """`cuped` from each arm's moments: var(y - theta x) = var y - 2 theta cov(x, y) + theta^2 var x."""
    pooled = _pooled(c, t)
    theta = pooled.cov_xy / pooled.var_x if pooled.var_x > 0 else 0.0

    def adjusted(a: Arm) -> Arm:
        return Arm(a.n, a.mean - theta * (a.mean_x - pooled.mean_x),
                   max(a.var - 2 * theta * a.cov_xy + theta**2 * a.var_x, 0.0))

    estimate = welch_arms(adjusted(c), adjusted(t), alpha)
    var_adjusted = pooled.var - 2 * theta * pooled.cov_xy + theta**2 * pooled.var_x
    return Estimate(**{**asdict(estimate), "theta": theta,
                       "variance_reduction": float(1 - var_adjusted / pooled.var) if pooled.var > 0 else math.nan})


def srm(counts: dict[str, int], weights: dict[str, float], threshold: float = 0.001) -> SrmResult:
    """Sample ratio mismatch: do the users per variant fit the shares the weights promise?

    The threshold is strict (0.001, not 0.05) because the check runs on every readout and a flag halts
    the readout; with tens of thousands of users even a 1-point share gap gives p far below it.
    """
    if set(counts) != set(weights):
        raise ValueError(f"srm: counts are for {sorted(counts)} but weights for {sorted(weights)}; pass the same variants")
    names = sorted(weights)
    observed = np.array([counts[n] for n in names], dtype=np.float64)
    shares = np.array([weights[n] for n in names], dtype=np.float64) / sum(weights.values())
    chi2, p = stats.chisquare(observed, shares * observed.sum())
    return SrmResult(chi2=float(chi2), p_value=float(p), threshold=threshold, flagged=bool(p < threshold),
                     observed_shares=dict(zip(names, (observed / observed.sum()).tolist())),
                     expected_shares=dict(zip(names, shares.tolist())))


def post_stratified(y: np.ndarray, arm: np.ndarray, strata: np.ndarray, control: str, treatment: str,
                    alpha: float = 0.05) -> Estimate:
    """Post-stratified difference: each stratum's difference of means, weighted by the stratum's share w_s
    of the two arms' users; variance sum w_s^2 (var_t,s / n_t,s + var_c,s / n_c,s). Normal interval.

    Users of other arms are ignored. Every stratum needs at least 2 users in each arm.
    """
    y, arm, strata = np.asarray(y, dtype=np.float64), np.asarray(arm), np.asarray(strata)
    cells = {s: (Arm.of(y[(strata == s) & (arm == control)]), Arm.of(y[(strata == s) & (arm == treatment)]))
             for s in sorted(set(strata[np.isin(arm, [control, treatment])].tolist()))}
    return post_stratified_arms(cells, alpha)


def post_stratified_arms(cells: dict, alpha: float = 0.05) -> Estimate:
    """`post_stratified` from each stratum's (control Arm, treatment Arm)."""
    thin = sorted(s for s, (c, t) in cells.items() if c.n < 2 or t.n < 2)
    if thin:
        raise ValueError(f"post_stratified: strata {thin} have fewer than 2 users in an arm; merge them into a neighbour")
    total = sum(c.n + t.n for c, t in cells.values())
    if total == 0:
        raise ValueError("post_stratified: no stratum has users in both arms")
    w = {s: (c.n + t.n) / total for s, (c, t) in cells.items()}
    mean_c = sum(w[s] * c.mean for s, (c, _) in cells.items())
    mean_t = sum(w[s] * t.mean for s, (_, t) in cells.items())
    diff = mean_t - mean_c
    se = math.sqrt(sum(w[s] ** 2 * (t.var / t.n + c.var / c.n) for s, (c, t) in cells.items()))
    if se == 0:
        raise ValueError("post_stratified: the metric is constant in every stratum, so it has no standard error")
    half = float(stats.norm.ppf(1 - alpha / 2)) * se
    return Estimate(diff=diff, se=se, ci_low=diff - half, ci_high=diff + half,
                    p_value=float(2 * stats.norm.sf(abs(diff) / se)), dof=math.inf, level=1 - alpha,
                    relative_lift=_relative(diff, mean_c), n_control=sum(c.n for c, _ in cells.values()),
                    n_treatment=sum(t.n for _, t in cells.values()), mean_control=mean_c, mean_treatment=mean_t)


def days_to_detect(std: float, n_per_day_per_arm: float, mde_abs: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Days of traffic for a two-sided two-sample z-test at `alpha` to detect an absolute effect `mde_abs`
    with probability `power`: n per arm = 2 (z_{1-alpha/2} + z_power)^2 std^2 / mde^2.

    `std` is the per-user standard deviation of the metric, taken as fixed while users accrue (new users
    each day; a user's metric does not keep growing), so the days scale as 1 / n_per_day_per_arm.
    """
    if std <= 0 or n_per_day_per_arm <= 0 or mde_abs <= 0:
        raise ValueError(f"days_to_detect needs std, n_per_day_per_arm and mde_abs > 0, "
                         f"got {std}, {n_per_day_per_arm}, {mde_abs}")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(2 * (z * std / mde_abs) ** 2 / n_per_day_per_arm)


def decide(estimate: Estimate, srm_result: SrmResult, mde_abs: float, days_run: float, n_per_day_per_arm: float,
           std: float, max_days: float) -> Decision:
    """Ship, stop, keep running or investigate, in that order of checks: a sample ratio mismatch voids the
    rest; an interval wholly above 0 ships; wholly below 0 stops; one that rules out the MDE stops (no
    effect worth shipping); otherwise keep running the days still needed to detect the MDE at 80% power,
    unless that takes the experiment past `max_days` (stop: underpowered).
    """
    e = estimate
    ci = f"{e.level:.0%} CI [{e.ci_low:.4g}, {e.ci_high:.4g}]"
    effect = f"{e.diff:+.4g} ({e.relative_lift:+.1%})"
    if srm_result.flagged:
        shares = ", ".join(f"{name} {srm_result.observed_shares[name]:.1%} (expected {share:.1%})"
                           for name, share in srm_result.expected_shares.items())
        return Decision("investigate", f"Sample ratio mismatch (p = {srm_result.p_value:.2g}): {shares}; find the broken "
                                       "assignment or exposure logging before trusting any effect.")
    if e.ci_low > 0:
        return Decision("ship", f"Treatment raises the metric by {effect}, {ci} is above 0: ship it.")
    if e.ci_high < 0:
        return Decision("stop", f"Treatment lowers the metric by {effect}, {ci} is below 0: stop it.")
    if e.ci_high < mde_abs:
        return Decision("stop", f"No effect worth shipping: {ci} rules out the MDE of {mde_abs:.4g}; stop it.")
    needed = days_to_detect(std, n_per_day_per_arm, mde_abs, alpha=1 - e.level)
    # Past the planned duration the interval can still straddle 0 and the MDE; ask for at least a day more.
    remaining = max(math.ceil(needed - days_run), 1)
    if days_run + remaining > max_days:
        return Decision("stop", f"Underpowered: {ci} includes 0 and the MDE of {mde_abs:.4g}, and detecting it needs "
                                f"{needed:.0f} days in all, more than the {max_days:g}-day limit; stop it.")
    days = f"{remaining} more day{'s' if remaining > 1 else ''}"
    return Decision("keep running", f"Inconclusive so far: {ci} includes 0 and the MDE of {mde_abs:.4g}; keep it running "
                                    f"about {days} ({needed:.0f} in all).", float(remaining))
