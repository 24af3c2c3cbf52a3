"""The whole pipeline in order: ingest -> features -> train/score/evaluate -> gates -> publish -> retention."""

from __future__ import annotations

from pyspark.sql import SparkSession

from conf import Config
from jobs import runs
from jobs.evaluate import evaluate
from jobs.features import build_features
from jobs.ingest import ingest
from jobs.progress import run_step
from jobs.publish import publish
from jobs.retention import apply_retention
from jobs.score import score
from jobs.tracking import record_outcome
from jobs.train import train


def run_pipeline(cfg: Config, spark: SparkSession, run_id: str | None = None) -> dict:
    """Run every step for one run id; return the pipeline report (see README for its shape)."""
    run_id = run_id or runs.new_run_id()
    timings: dict[str, float] = {}
    ingested = run_step("ingest", ingest, cfg, spark, timings=timings)
    features = run_step("features", build_features, cfg, spark, run_id, timings=timings)
    run_step("train_eval", train, cfg, spark, run_id, "eval", timings=timings)
    run_step("score_eval", score, cfg, spark, run_id, "eval", timings=timings)
    evaluation = run_step("evaluate", evaluate, cfg, spark, run_id, timings=timings)
    if evaluation["gates"]["passed"]:
        run_step("train_full", train, cfg, spark, run_id, "full", timings=timings)
        run_step("score_full", score, cfg, spark, run_id, "full", timings=timings)
    published = run_step("publish", publish, cfg, spark, run_id, timings=timings)
    retained = run_step("retention", apply_retention, cfg, spark, timings=timings)
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
        "retention": retained,
        "timings_seconds": timings,
    }
    report["mlflow_run_id"] = evaluation["mlflow_run_id"]
    record_outcome(cfg, evaluation["mlflow_run_id"], published["version"], report)
    runs.update_state(cfg, run_id, report=report)
    return report
