"""Publish: write a run's final lists to the Feast online store as a new version, then flip.

Only a run whose gates passed publishes. Every list of the version is written before the
manifest row changes, so a failed or gated-out run leaves the previous version serving.
"""

from __future__ import annotations

from datetime import datetime, UTC

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from conf import Config
from data_contracts import columns as S
from jobs import lake, runs
from jobs.errors import PipelineError
from jobs.score import FALLBACK_USER, read_lists
from jobs.tracking import record_outcome
from jobs.train import model_path
from serving.store import CURRENT, FALLBACK, list_key, open_store, write_repo_files


class PublishRefused(PipelineError):
    """The run may not publish (gates failed or it was never evaluated)."""


def _list_rows(cfg: Config, spark: SparkSession, run_id: str, state: dict, version: str) -> pd.DataFrame:
    movies = lake.read(spark, cfg.table_path("silver", "movies"), state["silver_versions"]["movies"]).select(
        S.MOVIE_ID, "title", "year")
    ranked = read_lists(cfg, spark, run_id, "full", "ranked_lists").join(movies, S.MOVIE_ID, "left")
    ordered = F.sort_array(F.collect_list(F.struct(
        S.RANK, S.MOVIE_ID, S.SCORE, S.REASON_TEXT, F.coalesce("title", F.lit("")).alias("title"), "year")))
    grouped = ranked.groupBy(S.USER_ID).agg(ordered.alias("items")).select(
        S.USER_ID,
        F.col(f"items.{S.MOVIE_ID}").alias("movie_ids"),
        F.transform(f"items.{S.SCORE}", lambda s: s.cast("float")).alias("scores"),
        F.col(f"items.{S.REASON_TEXT}").alias("reasons"),
        F.col("items.title").alias("titles"),
        F.transform("items.year", lambda y: F.coalesce(y, F.lit(0)).cast("long")).alias("years"),
    )
    frame = grouped.toPandas()
    key = frame[S.USER_ID].map(lambda u: list_key(version, FALLBACK if u == FALLBACK_USER else u))
    now = datetime.now(UTC)
    return frame.drop(columns=[S.USER_ID]).assign(list_key=key, generated_at=now.isoformat(),
                                                  event_timestamp=pd.Timestamp(now))


def publish(cfg: Config, spark: SparkSession, run_id: str) -> dict:
    """Publish `run_id` if its gates passed; return {"published": bool, "version": ..., ...}."""
    state = runs.load_state(cfg, run_id)
    evaluation = state.get("evaluation")
    if evaluation is None:
        raise PublishRefused(f"run {run_id} has not been evaluated: run the evaluate step first")
    if not evaluation["gates"]["passed"]:
        failed = [c["gate"] for c in evaluation["gates"]["checks"] if not c["passed"]]
        result = {"published": False, "version": None, "reason": "gates failed: " + "; ".join(failed)}
        record_outcome(cfg, evaluation["mlflow_run_id"], None)
        runs.update_state(cfg, run_id, publish=result)
        return result

    from features.repo import DEFINITIONS

    repo = write_repo_files(cfg)
    store = open_store(cfg)
    store.apply(DEFINITIONS)
    version = run_id
    lists = _list_rows(cfg, spark, run_id, state, version)
    if not lists["list_key"].str.endswith(f":{FALLBACK}").any():
        raise PublishRefused(f"run {run_id} has no fallback list: re-run the score step")
    store.write_to_online_store("user_recommendations", lists)
    published_at = datetime.now(UTC)
    manifest = pd.DataFrame({"manifest_id": [CURRENT], "version": [version], "published_at": [published_at.isoformat()],
                             "event_timestamp": [pd.Timestamp(published_at)]})
    # Offline snapshots of what is served, for Feast's offline store (history stays in gold tables).
    lists.to_parquet(repo / "data" / "user_recommendations.parquet", index=False)
    manifest.to_parquet(repo / "data" / "publish_manifest.parquet", index=False)
    store.write_to_online_store("publish_manifest", manifest)
    result = {"published": True, "version": version, "lists": int(len(lists)), "published_at": published_at.isoformat()}
    _log(cfg, spark, run_id, result)
    result["champion_ranker_version"] = record_outcome(cfg, evaluation["mlflow_run_id"], version,
                                                       ranker_file=model_path(cfg, run_id, "full").parent / "ranker.ubj")
    runs.update_state(cfg, run_id, publish=result)
    return result


def _log(cfg: Config, spark: SparkSession, run_id: str, result: dict) -> None:
    row = spark.createDataFrame([(run_id, result["version"], result["lists"], result["published_at"])],
                                f"{S.RUN_ID} string, version string, lists long, published_at string")
    row.write.format("delta").mode("append").save(cfg.table_path("gold", "publish_log"))
