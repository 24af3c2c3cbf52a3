"""Do the A/B readout statistics keep their promises on simulated experiments with a known effect?

    .venv/bin/python bench/experiment_sim.py [--runs 50] [--users 20000] [--lift 0.03] [--srm-users 100000]
                                             [--pre-correlation 0.7] [--seed 0]

Runs --runs seeded simulations (jobs.experiments.simulate, 50/50 split, pre-period correlation
--pre-correlation) with a planted relative --lift and as many with none, and prints, for Welch, CUPED
and the post-stratified estimate (activity terciles): the share of lift runs whose 95% interval covers
the true effect, the share of no-lift runs significant at 0.05, the mean interval width and its
narrowing against Welch, and CUPED's mean variance reduction. Then one run of --srm-users users whose
exposure logging loses treatment users down to a 52/48 split, and one correct 50/50 run: whether the
sample ratio check flags each. Targets (issue 15): coverage >= 90%, false positives <= 10%, CUPED's
interval >= 20% narrower than Welch's, the 52/48 split flagged and the 50/50 one not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jobs.experiments.simulate import simulate, true_effect  # noqa: E402
from jobs.experiments.stats import Estimate, cuped, post_stratified, srm, welch  # noqa: E402

ALPHA = 0.05
METHODS = ("welch", "cuped", "post-strat")


def estimates(frame: pd.DataFrame) -> dict[str, Estimate]:
    c, t = frame[frame["variant"] == "control"], frame[frame["variant"] == "treatment"]
    return {"welch": welch(c["y"], t["y"], ALPHA),
            "cuped": cuped(c["y"], c["pre"], t["y"], t["pre"], ALPHA),
            "post-strat": post_stratified(frame["y"], frame["variant"], frame["stratum"], "control", "treatment", ALPHA)}


def runs(args: argparse.Namespace, lift: float, first_seed: int) -> pd.DataFrame:
    """One row per (run, method): covered, significant, width, variance_reduction."""
    rows = []
    for seed in range(first_seed, first_seed + args.runs):
        frame = simulate(args.users, seed, lift=lift, pre_correlation=args.pre_correlation, experiment=f"sim-{seed}")
        for method, e in estimates(frame).items():
            rows.append({"method": method, "covered": e.ci_low <= true_effect(lift) <= e.ci_high,
                         "significant": e.p_value < ALPHA, "width": e.ci_high - e.ci_low,
                         "variance_reduction": e.variance_reduction})
    return pd.DataFrame(rows).groupby("method").mean().reindex(list(METHODS))


def srm_check(n_users: int, seed: int, forced: dict[str, float] | None) -> tuple[str, float, bool]:
    frame = simulate(n_users, seed, experiment=f"srm-{seed}", forced_shares=forced)
    counts = frame["variant"].value_counts().to_dict()
    result = srm(counts, {"control": 0.5, "treatment": 0.5})
    shares = "/".join(f"{result.observed_shares[v]:.1%}" for v in ("control", "treatment"))
    return shares, result.p_value, result.flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--lift", type=float, default=0.03, help="planted relative lift of the treatment")
    parser.add_argument("--srm-users", type=int, default=100_000)
    parser.add_argument("--pre-correlation", type=float, default=0.7, help="corr(pre, y): how much CUPED can remove")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    lifted = runs(args, args.lift, args.seed)
    null = runs(args, 0.0, args.seed + args.runs)
    narrowing = 1 - lifted["width"] / lifted.loc["welch", "width"]
    print(f"{args.runs} runs x {args.users:,} users, 50/50, planted lift {args.lift:.1%} "
          f"(true effect {true_effect(args.lift):+.3f} watches/user), pre-period correlation {args.pre_correlation}\n")
    print(f"{'':34}" + "".join(f"{m:>12}" for m in METHODS) + "   target")
    table = [("coverage of the true effect", lifted["covered"], ">= 90%"),
             ("false positives (no lift, p<0.05)", null["significant"], "<= 10%"),
             ("power (lift, p<0.05)", lifted["significant"], ""),
             ("mean 95% CI width", lifted["width"], ""),
             ("CI narrower than Welch by", narrowing, ">= 20% (cuped)"),
             ("mean variance reduction", lifted["variance_reduction"], "")]
    for label, values, target in table:
        cells = "".join(f"{v:>12.3f}" if label.startswith("mean 95%") else
                        f"{'-' if np.isnan(v) else f'{v:.1%}':>12}" for v in values)
        print(f"{label:34}{cells}   {target}")

    print(f"\nSample ratio check at {args.srm_users:,} users, weights 50/50, threshold p < 0.001:")
    for label, forced, target in (("logger loses treatment users (52/48)", {"control": 0.52, "treatment": 0.48}, "flagged"),
                                  ("correct split (50/50)", None, "not flagged")):
        shares, p, flagged = srm_check(args.srm_users, args.seed, forced)
        print(f"  {label:38} shares {shares}  p = {p:.3g}  {'flagged' if flagged else 'not flagged':12} target: {target}")
    print(f"\nwall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
