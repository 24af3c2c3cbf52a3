"""`movierec experiment report`: which variant won with real users, and what to do about it.

From silver.exposures (what the API served) and silver.interactions (what users did), per variant: exposed
users, a sample-ratio-mismatch check against the weights, and each outcome metric (jobs/experiments/outcomes.py)
against control: the difference with its Welch 95% interval and p-value, the same with CUPED (the variance
reduction printed) and post-stratified by pre-period activity tercile, plus the lift day by day. Results go to
gold.experiment_results, MLflow and `<workdir>/experiments/<name>/` (report.json, report.md, lift.png); the
report ends with a decision on the primary metric (ship, keep running with the days still needed, stop, or
investigate a sample ratio mismatch).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from conf import Config
from data_contracts import columns as S
from jobs import lake
from jobs.errors import PipelineError
from jobs.experiments import stats
from jobs.experiments.outcomes import METRICS, exposure_counts, moments, read_exposures, user_outcomes

STRATA = 3          # "activity" strata: terciles of the pre-period value of the primary metric


def experiment_report(cfg: Config, spark: SparkSession, experiment: str | None = None, since: datetime | None = None,
                      weights: dict[str, float] | None = None) -> dict:
    ec = cfg.experiment
    name = experiment or ec.name
    path = cfg.table_path("silver", "exposures")
    if not lake.exists(spark, path):
        raise PipelineError("silver.exposures does not exist yet: serve with serving.exposure_log set, then ingest")
    exposures = read_exposures(spark, path, name, since).cache()
    span = exposures.agg(F.min(S.SERVED_AT).alias("first"), F.max(S.SERVED_AT).alias("last")).first()
    if span["first"] is None:
        exposures.unpersist()
        raise PipelineError(f"no exposures of experiment {name!r} in silver.exposures"
                            + (f" since {since:%Y-%m-%d}" if since else ""))
    if weights is None:
        weights = ({v: c.weight for v, c in ec.variants.items()} if name == ec.name
                   else _recorded_weights(cfg, spark, name)
                   or {r[S.VARIANT]: 1.0 for r in exposures.groupBy(S.VARIANT).agg(F.min(S.SERVED_AT).alias("first"))
                       .orderBy("first").collect()})
    variants = list(weights)
    control, treatments = variants[0], variants[1:]
    interactions = lake.read(spark, cfg.table_path("silver", "interactions"))
    outcomes = _with_stratum(spark, cfg, user_outcomes(exposures, interactions, ec.window_days, ec.pre_days)).cache()

    counts = {r[S.VARIANT]: r for r in exposure_counts(outcomes)}
    unexpected = sorted(set(counts) - set(weights))
    srm = stats.srm({v: int(counts[v]["users"]) if v in counts else 0 for v in variants}, weights)
    by_variant = _arms(moments(outcomes, [S.VARIANT]), [S.VARIANT])
    by_stratum = _arms(moments(outcomes, [S.VARIANT, "stratum"]), [S.VARIANT, "stratum"])
    days_run = max((span["last"] - span["first"]).total_seconds() / 86400, 1.0)
    results, decisions = {}, {}
    for treatment in treatments:
        results[treatment] = {m: _estimates(by_variant, by_stratum, control, treatment, m, ec.alpha) for m in METRICS}
        decisions[treatment] = _decide(results[treatment][ec.primary_metric], by_variant, control, treatment,
                                       ec.primary_metric, srm, days_run, cfg)
    daily = _daily(exposures, interactions, span["first"], span["last"], control, treatments, cfg)
    report = {
        "experiment": name, "strata": ec.strata, "as_of": datetime.now(UTC).isoformat(timespec="seconds"),
        "first_exposure": span["first"].isoformat(), "last_exposure": span["last"].isoformat(),
        "days_run": round(days_run, 2), "since": since.isoformat() if since else None,
        "weights": weights, "control": control, "primary_metric": ec.primary_metric,
        "window_days": ec.window_days, "pre_days": ec.pre_days, "alpha": ec.alpha,
        "min_detectable_effect": ec.min_detectable_effect,
        "exposure": {v: {k: int(c[k]) for k in c if k != S.VARIANT} for v, c in counts.items()},
        "unexpected_variants": unexpected, "srm": srm.as_dict(), "results": results,
        "decisions": {t: d.as_dict() for t, d in decisions.items()}, "daily": daily,
    }
    outcomes.unpersist()
    exposures.unpersist()
    folder = Path(cfg.workdir) / "experiments" / name
    folder.mkdir(parents=True, exist_ok=True)
    report["figure"] = str(_plot(daily, folder / "lift.png", name))
    (folder / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (folder / "report.md").write_text(markdown(report))
    _write_results(cfg, spark, report)
    report["mlflow_run_id"] = _log_mlflow(cfg, report, folder)
    return report


def _recorded_weights(cfg: Config, spark: SparkSession, name: str) -> dict[str, float] | None:
    """The weights of experiment `name` as its last readout recorded them: an experiment that is no longer the
    configured one (experiment.variants changed for the next) is still read out against its own split."""
    path = cfg.table_path("gold", "experiment_results")
    if not lake.exists(spark, path):
        return None
    row = (lake.read(spark, path).where(F.col("experiment") == name).orderBy(F.col("as_of").desc())
           .select("weights").first())
    return json.loads(row["weights"]) if row else None


def _with_stratum(spark: SparkSession, cfg: Config, outcomes: DataFrame) -> DataFrame:
    """A `stratum` column: with `experiment.strata` "activity", the user's tercile (0..STRATA-1) of the primary
    metric's pre-period value (ties share one); else the user's value of that silver.users column ("unknown"
    where there is none)."""
    strata = cfg.experiment.strata
    if strata != "activity":
        users = lake.read(spark, cfg.table_path("silver", "users"))
        if strata not in users.columns:
            raise PipelineError(f"experiment.strata {strata!r} is neither 'activity' nor a column of silver.users "
                                f"({', '.join(users.columns)})")
        values = users.select(S.USER_ID, F.coalesce(F.col(strata).cast("string"), F.lit("unknown")).alias("stratum"))
        return outcomes.join(values, S.USER_ID, "left").fillna({"stratum": "unknown"})
    column = f"pre_{cfg.experiment.primary_metric}"
    cuts = outcomes.approxQuantile(column, [i / STRATA for i in range(1, STRATA)], 0.001)
    stratum = F.lit(0)
    for cut in sorted(set(cuts)):
        stratum = stratum + (F.col(column) > F.lit(cut)).cast("int")
    return outcomes.withColumn("stratum", stratum.cast("string"))


def _arms(rows: list[dict], keys: list[str]) -> dict[tuple, dict[str, stats.Arm]]:
    """(group key) -> metric -> Arm, from the moments' sums."""
    out: dict[tuple, dict[str, stats.Arm]] = {}
    for row in rows:
        out[tuple(row[k] for k in keys)] = {
            m: stats.Arm.from_sums(row["n"], row[f"{m}|y"], row[f"{m}|yy"], row[f"{m}|x"], row[f"{m}|xx"], row[f"{m}|xy"])
            for m in METRICS}
    return out


def _estimates(by_variant: dict, by_stratum: dict, control: str, treatment: str, metric: str, alpha: float) -> dict:
    c, t = by_variant.get((control,)), by_variant.get((treatment,))
    if c is None or t is None or c[metric].n < 2 or t[metric].n < 2:
        return {"error": f"fewer than 2 exposed users in {control if c is None or c[metric].n < 2 else treatment}"}
    try:
        out = {"welch": stats.welch_arms(c[metric], t[metric], alpha).as_dict(),
               "cuped": stats.cuped_arms(c[metric], t[metric], alpha).as_dict()}
    except ValueError as exc:          # e.g. no user clicked yet: a constant metric has no interval
        return {"error": str(exc)}
    cells = {s: (by_stratum[(control, s)][metric], by_stratum[(treatment, s)][metric])
             for (v, s) in by_stratum if v == control and (treatment, s) in by_stratum}
    try:
        out["post_stratified"] = stats.post_stratified_arms(cells, alpha).as_dict()
    except ValueError as exc:          # a stratum with fewer than 2 users in an arm
        out["post_stratified"] = {"error": str(exc)}
    return out


def _decide(estimates: dict, by_variant: dict, control: str, treatment: str, metric: str, srm: stats.SrmResult,
            days_run: float, cfg: Config) -> stats.Decision:
    """The decision on the primary metric, from CUPED's interval (Welch's when CUPED could not narrow it)."""
    if "error" in estimates:
        # A sample ratio mismatch is said even when there is no estimate yet.
        if srm.flagged:
            return stats.Decision("investigate", f"Sample ratio mismatch (p = {srm.p_value:.2g}): find the broken "
                                                 f"assignment or exposure logging; no estimate yet: {estimates['error']}.")
        return stats.Decision("keep running", f"Not enough data yet: {estimates['error']}.")
    cuped, welch = estimates["cuped"], estimates["welch"]
    chosen = cuped if cuped["se"] <= welch["se"] else welch
    estimate = stats.Estimate(**{k: v for k, v in chosen.items()})
    c, t = by_variant[(control,)][metric], by_variant[(treatment,)][metric]
    mde = cfg.experiment.min_detectable_effect * abs(c.mean)
    if mde == 0:
        return stats.Decision("keep running", f"Control's {metric} is 0 so far: no baseline for a relative effect yet.")
    std = math.sqrt(max((c.var + t.var) / 2, 1e-12)) * math.sqrt(max(1 - (chosen.get("variance_reduction") or 0.0), 1e-6)
                                                                 if chosen is cuped else 1.0)
    return stats.decide(estimate, srm, mde, days_run, min(c.n, t.n) / days_run, std, cfg.experiment.max_days)


def _daily(exposures: DataFrame, interactions: DataFrame, first: datetime, last: datetime, control: str,
           treatments: list[str], cfg: Config) -> list[dict]:
    """The readout as of the end of each day of the experiment (at most `max_days` of them, the latest):
    per treatment and metric, Welch's and CUPED's lift and interval."""
    ec = cfg.experiment
    start = datetime(first.year, first.month, first.day) + timedelta(days=1)
    ends = [start + timedelta(days=d) for d in range((last - start).days + 2)][-int(ec.max_days):]
    series = []
    for end in ends:
        arms = _arms(moments(user_outcomes(exposures, interactions, ec.window_days, ec.pre_days, until=end),
                             [S.VARIANT]), [S.VARIANT])
        for treatment in treatments:
            for metric in METRICS:
                c, t = arms.get((control,)), arms.get((treatment,))
                if c is None or t is None or c[metric].n < 2 or t[metric].n < 2:
                    continue
                row = {"day": (end - timedelta(days=1)).date().isoformat(), "treatment": treatment, "metric": metric}
                for method, fn in (("welch", stats.welch_arms), ("cuped", stats.cuped_arms)):
                    try:
                        e = fn(c[metric], t[metric], ec.alpha)
                    except ValueError:      # constant metric so far: no interval yet
                        continue
                    row |= {f"{method}_diff": e.diff, f"{method}_ci_low": e.ci_low, f"{method}_ci_high": e.ci_high,
                            f"{method}_p": e.p_value}
                if len(row) > 3:
                    series.append(row)
    return series


def _plot(daily: list[dict], path: Path, name: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["treatment"], r["metric"]) for r in daily}) or [("-", "-")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels)), squeeze=False)
    for ax, (treatment, metric) in zip(axes[:, 0], panels):
        rows = [r for r in daily if (r["treatment"], r["metric"]) == (treatment, metric)]
        for method, colour in (("welch", "tab:blue"), ("cuped", "tab:orange")):
            points = [r for r in rows if f"{method}_diff" in r]
            days = [r["day"] for r in points]
            ax.plot(days, [r[f"{method}_diff"] for r in points], marker="o", color=colour, label=method)
            ax.fill_between(days, [r[f"{method}_ci_low"] for r in points], [r[f"{method}_ci_high"] for r in points],
                            color=colour, alpha=0.2)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_title(f"{name}: {treatment} - control, {metric} (95% CI)", fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _write_results(cfg: Config, spark: SparkSession, report: dict) -> None:
    """One row per (treatment, metric, method) of this readout in gold.experiment_results; a readout of the same
    experiment on the same day replaces that day's rows, earlier days' stay (the experiment's history)."""
    day = report["as_of"][:10]
    rows = []
    for treatment, metrics in report["results"].items():
        decision = report["decisions"][treatment]
        for metric, methods in metrics.items():
            for method, e in methods.items():
                if method == "error" or "error" in e:
                    continue
                rows.append((report["experiment"], day, report["as_of"], treatment, report["control"], metric, method,
                             int(e["n_control"]), int(e["n_treatment"]), e["mean_control"], e["mean_treatment"],
                             e["diff"], e["ci_low"], e["ci_high"], e["p_value"], e["relative_lift"],
                             e["variance_reduction"], report["srm"]["p_value"], bool(report["srm"]["flagged"]),
                             decision["action"] if metric == report["primary_metric"] else None,
                             json.dumps(report["weights"])))
    schema = ("experiment string, report_date string, as_of string, treatment string, control string, metric string, "
              "method string, n_control long, n_treatment long, mean_control double, mean_treatment double, diff double, "
              "ci_low double, ci_high double, p_value double, relative_lift double, variance_reduction double, "
              "srm_p_value double, srm_flagged boolean, decision string, weights string")
    if rows:
        lake.replace_where(spark.createDataFrame(rows, schema), cfg.table_path("gold", "experiment_results"),
                           {"experiment": report["experiment"], "report_date": day}, ["experiment"])


def _log_mlflow(cfg: Config, report: dict, folder: Path) -> str:
    from jobs.tracking import _metric_name, _mlflow

    mlflow = _mlflow(cfg)
    with mlflow.start_run(run_name=f"experiment-{report['experiment']}-{report['as_of'][:10]}") as run:
        mlflow.set_tags({"movierec.experiment": report["experiment"], "movierec.kind": "experiment_readout"})
        mlflow.log_params({"primary_metric": report["primary_metric"], "window_days": report["window_days"],
                           "pre_days": report["pre_days"], "weights": json.dumps(report["weights"])})
        metrics = {"srm_p_value": report["srm"]["p_value"]}
        for treatment, by_metric in report["results"].items():
            for metric, methods in by_metric.items():
                for method, e in methods.items():
                    if method != "error" and "error" not in e:
                        for field in ("diff", "ci_low", "ci_high", "p_value", "variance_reduction"):
                            if isinstance(e[field], float) and math.isfinite(e[field]):
                                metrics[_metric_name(f"{treatment}.{metric}.{method}.{field}")] = e[field]
        mlflow.log_metrics(metrics)
        for name in ("report.json", "report.md", "lift.png"):
            mlflow.log_artifact(str(folder / name))
        return run.info.run_id


def markdown(report: dict) -> str:
    """The readout as a page a person reads top to bottom, ending with what to do."""
    srm = report["srm"]
    lines = [f"# Experiment `{report['experiment']}`", "",
             f"{report['first_exposure'][:16]} to {report['last_exposure'][:16]} ({report['days_run']} days); "
             f"control `{report['control']}`; analysed as assigned (intention to treat); outcomes within "
             f"{report['window_days']:g} days of a list showing the movie; CUPED covariate: the {report['pre_days']:g} "
             "days before each user's first exposure.", "",
             "| variant | users | lists | fallback lists | degraded lists | users in several variants |", "|---|---|---|---|---|---|"]
    for variant, c in report["exposure"].items():
        lines.append(f"| {variant} | {c['users']:,} | {c['lists']:,} | {c['fallback_lists']:,} | {c['degraded_lists']:,} | "
                     f"{c['users_in_several_variants']:,} |")
    lines += ["", f"Sample ratio: chi-square p = {srm['p_value']:.3g} against the weights {report['weights']}"
              + (" — **MISMATCH** (below 0.001)" if srm["flagged"] else " (no mismatch)") + ".", ""]
    if report["unexpected_variants"]:
        lines += [f"Exposures name variants the weights do not: {report['unexpected_variants']}.", ""]
    lines += ["| treatment | metric | method | control | treatment | diff | 95% CI | p | lift | variance reduction |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for treatment, metrics in report["results"].items():
        for metric, methods in metrics.items():
            for method, e in methods.items():
                if method == "error" or "error" in e:
                    lines.append(f"| {treatment} | {metric} | {method} | {e if method == 'error' else e['error']} |||||||")
                    continue
                vr = f"{e['variance_reduction']:.1%}" if math.isfinite(e["variance_reduction"]) else ""
                lines.append(f"| {treatment} | {metric} | {method} | {e['mean_control']:.4g} | {e['mean_treatment']:.4g} | "
                             f"{e['diff']:+.4g} | [{e['ci_low']:.4g}, {e['ci_high']:.4g}] | {e['p_value']:.3g} | "
                             f"{e['relative_lift']:+.2%} | {vr} |")
    lines += ["", f"Lift by day: {Path(report['figure']).name}", "", f"## Decision ({report['primary_metric']})", ""]
    for treatment, d in report["decisions"].items():
        lines.append(f"- **{treatment}: {d['action']}.** {d['reason']}")
    return "\n".join(lines) + "\n"
