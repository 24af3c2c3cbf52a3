"""Evaluate: metrics for every generator and the final list on the eval split, then the gates.

Writes gold `eval_metrics`, the run's report.json, and starts the run's MLflow run with
params, metrics and the report.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from scipy import sparse

from conf import Config
from data_contracts import columns as S
from jobs import lake, runs
from jobs.score import FALLBACK_USER, read_lists
from jobs.tracking import log_evaluation
from jobs.train import model_path, test_path
from models.metrics import ranking_metrics
from models.recommend import FINAL
from models.split import describe


def lists_to_array(frame: pd.DataFrame, user_ids: np.ndarray, item_index, k: int) -> np.ndarray:
    """(len(user_ids), k) item indices from rows (user_id, rank, movie_id); -1 where a list is short."""
    out = np.full((len(user_ids), k), -1, dtype=np.int64)
    top = frame[frame[S.RANK] <= k]
    rows = np.searchsorted(user_ids, top[S.USER_ID].to_numpy())
    out[rows, top[S.RANK].to_numpy() - 1] = item_index(top[S.MOVIE_ID].to_numpy())
    return out


def relevance_matrix(test: pd.DataFrame, user_ids: np.ndarray, item_index, n_items: int) -> sparse.csr_matrix:
    rel = test[test["relevant"] & test[S.USER_ID].isin(user_ids)]
    items = item_index(rel[S.MOVIE_ID].to_numpy())
    keep = items >= 0
    rows = np.searchsorted(user_ids, rel[S.USER_ID].to_numpy()[keep])
    matrix = sparse.csr_matrix((np.ones(keep.sum(), dtype=np.int8), (rows, items[keep])), shape=(len(user_ids), n_items))
    matrix.data[:] = 1
    return matrix


def check_gates(cfg: Config, models: dict[str, dict]) -> dict:
    final, checks = models[FINAL], []
    for metric, minimum in cfg.gates.min.items():
        value = final.get(metric)
        checks.append({"gate": f"final {metric} >= {minimum}", "value": value,
                       "passed": value is not None and value >= minimum})
    k = cfg.evaluation.k
    baseline = models["popularity"][f"ndcg@{k}"] * cfg.gates.min_ndcg_vs_popularity
    checks.append({"gate": f"final ndcg@{k} >= {cfg.gates.min_ndcg_vs_popularity} x popularity ndcg@{k} ({baseline:.4f})",
                   "value": final[f"ndcg@{k}"], "passed": final[f"ndcg@{k}"] >= baseline})
    return {"passed": all(c["passed"] for c in checks), "checks": checks}


def evaluate(cfg: Config, spark: SparkSession, run_id: str) -> dict:
    """Score the eval split's lists against held-out events; return the report (also saved)."""
    k = cfg.evaluation.k
    fitted = pickle.loads(model_path(cfg, run_id, "eval").read_bytes())
    test = pd.read_parquet(test_path(cfg, run_id))
    lists = pd.concat([
        read_lists(cfg, spark, run_id, "eval", "candidates").toPandas(),
        read_lists(cfg, spark, run_id, "eval", "ranked_lists").drop(S.REASON_TEXT).toPandas(),
    ])
    lists = lists[lists[S.USER_ID] != FALLBACK_USER]
    user_ids = np.sort(lists[S.USER_ID].unique())
    item_index = fitted.train.item_index
    relevant = relevance_matrix(test, user_ids, item_index, fitted.train.n_items)
    eligible = relevant.getnnz(axis=1) >= cfg.evaluation.min_relevant_test_events
    user_ids, relevant = user_ids[eligible], relevant[eligible]
    arrays = {name: lists_to_array(group, user_ids, item_index, k)
              for name, group in lists[lists[S.USER_ID].isin(user_ids)].groupby(S.LIST_NAME)}
    baseline = arrays["popularity"]
    models = {name: ranking_metrics(arrays[name], relevant, k, fitted.train.n_items, baseline)
              for name in [*fitted.generators, FINAL]}
    gates = check_gates(cfg, models)
    report = {
        "run_id": run_id,
        "protocol": {"split": describe(cfg.evaluation.test_fraction),
                     "relevance": (f"rating >= {cfg.interactions.min_relevant_rating}, or an event of type "
                                   f"{', '.join(cfg.interactions.positive_event_types)}"),
                     "users": "users with >= 1 training event and >= 1 relevant test event",
                     "metrics": "see models/metrics.py (recall = hits / |relevant|; serendipity per Ge et al. 2010 "
                                "against the popularity list)"},
        "k": k,
        "models": models,
        "gates": gates,
    }
    _save(cfg, spark, run_id, report)
    report["mlflow_run_id"] = log_evaluation(cfg, run_id, report)
    runs.update_state(cfg, run_id, evaluation=report)
    return report


def _save(cfg: Config, spark: SparkSession, run_id: str, report: dict) -> None:
    path = cfg.run_dir(run_id) / "report.json"
    path.write_text(json.dumps(report, indent=2))
    rows = [(run_id, model, metric, float(value)) for model, values in report["models"].items()
            for metric, value in values.items()]
    frame = spark.createDataFrame(rows, f"{S.RUN_ID} string, model string, metric string, value double")
    lake.replace_partition(frame, cfg.table_path("gold", "eval_metrics"), S.RUN_ID, run_id)
