"""The whole pipeline in order: ingest -> features -> train/score/evaluate -> gates -> publish."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

from pyspark.sql import SparkSession

from conf import Config
from jobs import runs
from jobs.evaluate import evaluate
from jobs.features import build_features
from jobs.ingest import ingest
from jobs.publish import publish
from jobs.score import score
from jobs.tracking import record_outcome
from jobs.train import train


log = logging.getLogger("movierec.pipeline")


@contextmanager
def _timed(timings: dict, name: str):
    """Time a step and say when it starts and ends: an operator (and bench/scale.py) follows the run by these lines."""
    log.info("step %s started", name)
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 2)
    log.info("step %s finished in %.1f s", name, timings[name])


def run_pipeline(cfg: Config, spark: SparkSession, run_id: str | None = None) -> dict:
    """Run every step for one run id; return the pipeline report (see README for its shape)."""
    run_id = run_id or runs.new_run_id()
    timings: dict[str, float] = {}
    with _timed(timings, "ingest"):
        ingested = ingest(cfg, spark)
    with _timed(timings, "features"):
        features = build_features(cfg, spark, run_id)
    with _timed(timings, "train_eval"):
        train(cfg, spark, run_id, "eval")
    with _timed(timings, "score_eval"):
        score(cfg, spark, run_id, "eval")
    with _timed(timings, "evaluate"):
        evaluation = evaluate(cfg, spark, run_id)
    if evaluation["gates"]["passed"]:
        with _timed(timings, "train_full"):
            train(cfg, spark, run_id, "full")
        with _timed(timings, "score_full"):
            score(cfg, spark, run_id, "full")
    with _timed(timings, "publish"):
        published = publish(cfg, spark, run_id)
    report = {
        "run_id": run_id,
        "protocol": evaluation["protocol"],
        "k": evaluation["k"],
        "models": evaluation["models"],
        "intervals": evaluation["intervals"],
        "candidates": evaluation["candidates"],
        "new_users": evaluation["new_users"],
        "evaluation_timing": evaluation["timing"],
        "ranker": evaluation["ranker"],
        "als_tuning": evaluation["als_tuning"],
        "figures": evaluation["figures"],
        "gates": evaluation["gates"],
        "published_version": published["version"],
        "publish": published,
        "ingest": ingested,
        "features": features,
        "timings_seconds": timings,
    }
    report["mlflow_run_id"] = evaluation["mlflow_run_id"]
    record_outcome(cfg, evaluation["mlflow_run_id"], published["version"], report)
    runs.update_state(cfg, run_id, report=report)
    return report
