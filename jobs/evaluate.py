"""Evaluate: metrics for every generator and the final list on the eval split, with 95% bootstrap
intervals over the evaluated users, then the gates.

The eval split's lists exist for at most `evaluation.max_users` users (a seeded sample when more are
eligible: see jobs.score.users_to_score). Writes gold `eval_metrics`, the run's report.json, and
starts the run's MLflow run with params, metrics and the report.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from scipy import sparse

from conf import Config
from data_contracts import columns as S
from jobs import lake, plots, runs
from jobs.report_text import best_single, markdown
from jobs.score import FALLBACK_USER, list_rows
from jobs.tracking import log_evaluation
from jobs.runs import model_path, test_path
from models.metrics import (
    LEVEL,
    Part,
    bootstrap,
    cold_item_part,
    cold_item_recall,
    coverage_curve,
    diversity_part,
    intervals,
    new_release_part,
    novelty_part,
    percentile_interval,
    point_value,
    popularity_percentile,
    ranking_metrics,
    ranking_parts,
    resample_counts,
)
from models.data import DAY
from models.recommend import FINAL, RANKER, final_list_name
from models.segments import SEGMENT_BASE
from models.split import LEAVE_ONE_OUT, describe
from models.training import relevance

COLD_ITEM_N = 100
NEW_RELEASE_DAYS = 30


def lists_to_array(frame: pd.DataFrame, user_ids: np.ndarray, item_index, k: int) -> np.ndarray:
    """(len(user_ids), k) item indices from rows (user_id, rank, movie_id); -1 where a list is short."""
    out = np.full((len(user_ids), k), -1, dtype=np.int64)
    top = frame[frame[S.RANK] <= k]
    rows = np.searchsorted(user_ids, top[S.USER_ID].to_numpy())
    out[rows, top[S.RANK].to_numpy() - 1] = item_index(top[S.MOVIE_ID].to_numpy())
    return out


def _paired(name: str, models: dict[str, dict], replicates: dict[str, dict[str, np.ndarray]], baseline: str,
            factor: float, ndcg: str) -> dict:
    """`name` against `factor` x `baseline` on each bootstrap resample of the users (the same resamples for every
    list): it fails only when the 95% interval of the difference lies wholly below 0, so a tie within noise
    passes and a clear regression does not."""
    target = models[baseline][ndcg] * factor
    interval = percentile_interval(replicates[name][ndcg] - factor * replicates[baseline][ndcg])
    return {"gate": (f"{name} {ndcg} >= {factor} x {baseline} {ndcg} ({target:.4f}), failing only when "
                     f"the paired {LEVEL:.0%} bootstrap interval of {name} - {factor} x {baseline} is below 0"),
            "value": models[name][ndcg], "difference": models[name][ndcg] - target, "interval": interval,
            "passed": models[name][ndcg] >= target if interval is None else interval[1] >= 0}


def check_gates(cfg: Config, models: dict[str, dict], replicates: dict[str, dict[str, np.ndarray]]) -> dict:
    """Every gate for every published list: the control's `final` and each variant's `final@<variant>`.

    `gates.min` holds on the point values. Against popularity (`gates.min_ndcg_vs_popularity`) and against the
    best single generator of the run (`gates.min_ndcg_vs_best_generator`), the comparison is paired (see `_paired`).
    The run publishes when the control passes (`passed`); a variant that fails is `withheld` (not published: its
    users get the control's lists, see jobs/publish.py), so one weak arm does not stop the others.
    """
    k = cfg.evaluation.k
    ndcg = f"ndcg@{k}"
    checks = []
    for name in (n for n in models if n.startswith(FINAL)):
        final = models[name]
        for metric, minimum in cfg.gates.min.items():
            value = final.get(metric)
            checks.append({"list": name, "gate": f"{name} {metric} >= {minimum}", "value": value,
                           "passed": value is not None and value >= minimum})
        checks.append({"list": name, **_paired(name, models, replicates, "popularity", cfg.gates.min_ndcg_vs_popularity, ndcg)})
        if cfg.gates.min_ndcg_vs_best_generator is not None:
            checks.append({"list": name, **_paired(name, models, replicates, best_single(models, ndcg),
                                                   cfg.gates.min_ndcg_vs_best_generator, ndcg)})
    failed = {c["list"] for c in checks if not c["passed"]}
    withheld = [v for v in list(cfg.experiment.variants)[1:] if final_list_name(v) in failed]
    return {"passed": FINAL not in failed, "withheld": withheld, "checks": checks}


def _union(arrays: list[np.ndarray]) -> np.ndarray:
    """Per row, the distinct items of all `arrays` (-1 padded), ascending: the merged candidate set."""
    stacked = np.sort(np.concatenate(arrays, axis=1), axis=1)
    distinct = np.concatenate([np.ones((len(stacked), 1), dtype=bool), stacked[:, 1:] != stacked[:, :-1]], axis=1)
    keep = distinct & (stacked >= 0)
    position = np.cumsum(keep, axis=1) - 1
    width = int(keep.sum(axis=1).max()) if len(stacked) else 1
    out = np.full((len(stacked), width), -1, dtype=np.int64)
    rows, cols = np.nonzero(keep)
    out[rows, position[rows, cols]] = stacked[rows, cols]
    return out


def _list_arrays(lists: dict[str, pd.DataFrame], user_ids: np.ndarray, item_index) -> dict[str, np.ndarray]:
    out = {}
    for name, rows in lists.items():
        rows = rows[rows[S.USER_ID].isin(user_ids)]
        out[name] = lists_to_array(rows, user_ids, item_index, int(rows[S.RANK].max()) if len(rows) else 1)
    return out


def list_parts(recs: np.ndarray, relevant: sparse.csr_matrix, fitted, users_per_item: np.ndarray, baseline: np.ndarray,
               k: int) -> dict[str, Part]:
    """Every metric of the report for one list, broken down by user (see models.metrics)."""
    n_items = fitted.train.n_items
    item_share = np.maximum(users_per_item, 1) / max(fitted.train.n_users, 1)
    parts: dict[str, Part] = {}
    for at in sorted({k, 2 * k}):
        parts.update(ranking_parts(recs, relevant, at, n_items, baseline if at == k else None))
    parts[f"novelty@{k}"] = novelty_part(recs, item_share, k)
    parts[f"diversity@{k}"] = diversity_part(recs, fitted.context.item_unit, k)
    parts[f"cold_item_recall@{COLD_ITEM_N}"] = cold_item_part(recs, relevant, users_per_item == 0, COLD_ITEM_N)
    released = fitted.train.catalog.release_ts
    new = np.isfinite(released) & (released >= fitted.train.as_of - NEW_RELEASE_DAYS * DAY)
    parts[f"new_release_share@{k}"] = new_release_part(recs, new, k)
    return parts


def model_parts(arrays: dict[str, np.ndarray], relevant: sparse.csr_matrix, fitted, users_per_item: np.ndarray,
                order: list[str], k: int) -> dict[str, dict[str, Part]]:
    return {name: list_parts(arrays[name], relevant, fitted, users_per_item, arrays["popularity"], k) for name in order}


def point_metrics(parts: dict[str, dict[str, Part]], n_users: int) -> dict[str, dict]:
    """The report's values: a metric that is undefined on these users (cold-item recall without cold items) is left out."""
    out = {}
    for name, metrics in parts.items():
        values = {metric: point_value(part) for metric, part in metrics.items()}
        out[name] = {**{m: v for m, v in values.items() if v is not None}, "users": int(n_users)}
    return out


def bootstrap_models(parts: dict[str, dict[str, Part]], models: dict[str, dict], n_users: int, samples: int,
                     seed: int) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, list[float] | None]]]:
    """(replicates, intervals) of every reported metric of every list, all lists on the same resamples."""
    counts = resample_counts(n_users, samples, seed)
    replicates, shown = {}, {}
    for name, metrics in parts.items():
        kept = {m: p for m, p in metrics.items() if m in models[name]}
        replicates[name] = bootstrap(kept, counts)
        shown[name] = intervals(kept, replicates[name])
    return replicates, shown


def users_protocol(eligible: int, evaluated: int, cfg: Config) -> str:
    who = (f"users with >= 1 training event and >= {cfg.evaluation.min_relevant_test_events} relevant test event(s): "
           f"{eligible} eligible, {evaluated} evaluated")
    if evaluated < eligible:
        return f"{who} (a sample of evaluation.max_users = {cfg.evaluation.max_users}, seed {cfg.seed})"
    return f"{who} (all of them)"


def new_user_metrics(lists: dict[str, pd.DataFrame], relevant: sparse.csr_matrix, user_idx: np.ndarray, fitted, k: int,
                     popularity_ndcg: float) -> dict:
    """The fallback list, as every evaluated user would get it if we knew nothing about them.

    `..._as_if_new` drops from it the items each user already has in training (`seen`, the evaluated users' rows),
    as every generator's list is scored; `..._unmasked` scores it as served. Against two popularity figures:
    the generator's own (`vs_popularity`: its list is `candidates_per_generator` long, so a user who has seen
    most of the fallback's items still has ten of its own) and popularity's list for an unknown user cut to the
    fallback's length, then scored the same way (`vs_popularity_same_length`: both lists as served, so neither
    refills the slots of a user's own items from below the served length). With segments, `segments` scores
    each user's segment list (the fallback for users the users table lacks) the same way."""
    seen = fitted.train.seen[user_idx]
    def as_if_new(name: str) -> tuple[np.ndarray, np.ndarray]:
        rows = lists[name][lists[name][S.USER_ID] == FALLBACK_USER].sort_values(S.RANK)
        items = fitted.train.item_index(rows[S.MOVIE_ID].to_numpy())
        recs = np.tile(items, (relevant.shape[0], 1)) if len(items) else np.full((relevant.shape[0], 1), -1)
        return recs, without_own(recs, seen)

    recs, masked = as_if_new(FINAL)
    metrics = ranking_metrics(masked, relevant, k, fitted.train.n_items)
    popular, _ = as_if_new("popularity")
    popular = without_own(popular[:, :recs.shape[1]], seen)   # cut as served, then masked: no refill from below
    same_length = ranking_metrics(popular, relevant, k, fitted.train.n_items)[f"ndcg@{k}"]
    ndcg = metrics[f"ndcg@{k}"]
    ratio = lambda value, base: round(value / base, 4) if base > 0 else None  # noqa: E731
    out = {"fallback_list_length": int((recs[0] >= 0).sum()), "full_list": bool((recs[0] >= 0).sum() >= fitted.n_final),
           f"ndcg@{k}_as_if_new": ndcg, f"recall@{k}_as_if_new": metrics[f"recall@{k}"],
           f"ndcg@{k}_as_if_new_unmasked": ranking_metrics(recs, relevant, k, fitted.train.n_items)[f"ndcg@{k}"],
           "vs_popularity": ratio(ndcg, popularity_ndcg),
           f"popularity_ndcg@{k}_same_length": same_length, "vs_popularity_same_length": ratio(ndcg, same_length)}
    if fitted.segments is not None:
        segment = fitted.segments.user_segment[user_idx]
        final = lists[FINAL]
        audience = SEGMENT_BASE - np.arange(len(fitted.segments.names))
        width = recs.shape[1]
        by_segment = np.full((len(audience) + 1, width), -1, dtype=np.int64)   # last row: the fallback
        by_segment[-1] = recs[0]
        for s, a in enumerate(audience):
            items = fitted.train.item_index(final.loc[final[S.USER_ID] == a].sort_values(S.RANK)[S.MOVIE_ID].to_numpy())[:width]
            by_segment[s, :len(items)] = items
        segment_recs = without_own(by_segment[np.where(segment >= 0, segment, len(audience))], seen)
        seg = ranking_metrics(segment_recs, relevant, k, fitted.train.n_items)[f"ndcg@{k}"]
        out["segments"] = {"attributes": [part.split("=")[0] for part in fitted.segments.names[0].split("|")],
                           "segments": len(audience), "users_with_a_segment": int((segment >= 0).sum()),
                           "shrinkage": (round(fitted.segments.shrinkage, 1) if np.isfinite(fitted.segments.shrinkage)
                                         else "overall popularity"),
                           f"ndcg@{k}_as_if_new": seg, "vs_popularity": ratio(seg, popularity_ndcg),
                           "vs_popularity_same_length": ratio(seg, same_length), "vs_fallback": ratio(seg, ndcg)}
    return out


def without_own(recs: np.ndarray, seen: sparse.csr_matrix) -> np.ndarray:
    """`recs` (one row per user of `seen`) with each user's own items moved to the end as -1 (a stable sort keeps
    the others' order): as every generator's list is scored."""
    rows = np.repeat(np.arange(recs.shape[0]), recs.shape[1])
    owned = np.asarray(seen[rows, np.maximum(recs, 0).ravel()]).reshape(recs.shape).astype(bool) & (recs >= 0)
    return np.take_along_axis(np.where(owned, -1, recs), np.argsort(owned, axis=1, kind="stable"), axis=1)


def _figures(cfg: Config, run_id: str, models: dict, metric_intervals: dict, arrays: dict, fitted, counts: np.ndarray,
             k: int) -> list[Path]:
    folder = cfg.run_dir(run_id) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    ks = list(range(1, max(a.shape[1] for a in arrays.values()) + 1))
    return [
        plots.metrics_per_model(models, folder / "metrics_per_model.png", k, metric_intervals),
        plots.popularity_bias({n: popularity_percentile(arrays[n], counts, k) for n in models}, folder / "popularity_bias.png", k),
        plots.coverage_curves({n: coverage_curve(arrays[n], fitted.train.n_items, ks) for n in models}, ks,
                              folder / "coverage_curve.png"),
    ]


def evaluate(cfg: Config, spark: SparkSession, run_id: str) -> dict:
    """Score the eval split's lists against held-out events; return the report (also saved)."""
    k = cfg.evaluation.k
    fitted = pickle.loads(model_path(cfg, run_id, "eval").read_bytes())
    test = pd.read_parquet(test_path(cfg, run_id))
    order = [*fitted.generators, *fitted.reference, RANKER, FINAL, *(final_list_name(v) for v in fitted.variants)]
    lists = {name: list_rows(cfg, spark, run_id, "eval", "ranked_lists" if name.startswith(FINAL) else "candidates", name)
             for name in order}
    user_ids = np.sort(lists[FINAL].loc[lists[FINAL][S.USER_ID] >= 0, S.USER_ID].unique())   # not the audiences
    item_index = fitted.train.item_index
    relevant = relevance(fitted.train, test, cfg)
    n_eligible = int(np.count_nonzero(relevant.getnnz(axis=1) >= cfg.evaluation.min_relevant_test_events))
    relevant = relevant[fitted.train.user_index(user_ids)]
    eligible = relevant.getnnz(axis=1) >= cfg.evaluation.min_relevant_test_events
    user_ids, relevant = user_ids[eligible], relevant[eligible]
    arrays = _list_arrays(lists, user_ids, item_index)
    users_per_item = np.asarray((fitted.train.seen > 0).sum(axis=0)).ravel()
    parts = model_parts(arrays, relevant, fitted, users_per_item, order, k)
    models = point_metrics(parts, len(user_ids))
    replicates, metric_intervals = bootstrap_models(parts, models, len(user_ids), cfg.evaluation.bootstrap_samples, cfg.seed)
    merged = _union([arrays[g] for g in fitted.generators])
    cold = users_per_item == 0
    gates = check_gates(cfg, models, replicates)
    train_summary = runs.load_state(cfg, run_id).get("train_eval", {})
    report = {
        "run_id": run_id,
        "protocol": {"name": cfg.evaluation.protocol,
                     "split": describe(cfg.evaluation.protocol, cfg.evaluation.test_fraction),
                     "relevance": ("every held-out interaction" if cfg.evaluation.protocol == LEAVE_ONE_OUT else
                                   f"rating >= {cfg.interactions.min_relevant_rating}, or an event of type "
                                   f"{', '.join(cfg.interactions.positive_event_types)}"),
                     "users": users_protocol(n_eligible, len(user_ids), cfg),
                     "eligible_users": n_eligible,
                     "evaluated_users": int(len(user_ids)),
                     "intervals": (f"{LEVEL:.0%} percentile bootstrap over {cfg.evaluation.bootstrap_samples} resamples of "
                                   f"the evaluated users (seed {cfg.seed}), every list on the same resamples"),
                     "metrics": "see models/metrics.py (recall = hits / |relevant|; serendipity per Ge et al. 2010 "
                                "against the popularity list)",
                     "lists": (f"generators: top-{cfg.models.candidates_per_generator}; {RANKER}: the ranker's order "
                               f"before reranking; {FINAL}: reranked, top-{cfg.models.final_list_size}")},
        "k": k,
        "models": models,
        "intervals": metric_intervals,
        "candidates": {"per_user": float(np.mean((merged >= 0).sum(axis=1))),
                       "recall": ranking_metrics(merged, relevant, merged.shape[1], fitted.train.n_items)[
                           f"recall@{merged.shape[1]}"],
                       "cold_item_recall": cold_item_recall(merged, relevant, cold, merged.shape[1])},
        "new_users": new_user_metrics(lists, relevant, fitted.train.user_index(user_ids), fitted, k,
                                      models.get("popularity", {}).get(f"ndcg@{k}", 0.0)),
        "timing": {"fit_seconds": train_summary.get("fit_seconds", {}),
                   "score_ms_per_user": train_summary.get("score_ms_per_user", {}),
                   "ranker_fit_seconds": train_summary.get("ranker", {}).get("fit_seconds")},
        "ranker": train_summary.get("ranker", {}),
        "als_tuning": train_summary.get("als", {}),
        "gates": gates,
    }
    figures = _figures(cfg, run_id, models, metric_intervals, arrays, fitted, users_per_item, k)
    report["figures"] = [str(f) for f in figures]
    _save(cfg, spark, run_id, report)
    report["mlflow_run_id"] = log_evaluation(cfg, run_id, report, figures, model_path(cfg, run_id, "eval").parent)
    runs.update_state(cfg, run_id, evaluation=report)
    return report


def _save(cfg: Config, spark: SparkSession, run_id: str, report: dict) -> None:
    path = cfg.run_dir(run_id) / "report.json"
    path.write_text(json.dumps(report, indent=2))
    path.with_suffix(".md").write_text(markdown(report))
    rows = [(run_id, model, metric, float(value)) for model, values in report["models"].items()
            for metric, value in values.items() if value is not None]
    frame = spark.createDataFrame(rows, f"{S.RUN_ID} string, model string, metric string, value double")
    lake.replace_partition(frame, cfg.table_path("gold", "eval_metrics"), S.RUN_ID, run_id)
