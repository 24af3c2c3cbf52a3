"""Publish: write a run's lists, similar movies and movie cards to the Feast online store as a new
version, then flip the manifest.

Only a run whose gates passed publishes. Every list of the version is written before the
manifest row changes, so a failed or gated-out run leaves the previous version serving.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from jobs.runs import model_path
from models.recommend import FINAL
from serving.store import CURRENT, FALLBACK, GENRE_SEPARATOR, list_key, movie_key, open_store, write_repo_files


class PublishRefused(PipelineError):
    """The run may not publish (gates failed or it was never evaluated)."""


@dataclass(frozen=True)
class Version:
    """Everything one published version holds, as frames keyed like the feature views in features/repo.py."""

    name: str
    lists: pd.DataFrame    # list_key + USER_LIST_FEATURES
    similar: pd.DataFrame  # movie_key + LIST_FEATURES
    cards: pd.DataFrame    # movie_key + CARD_FEATURES


def _item_fields(prefix: str) -> list:
    """Array columns of LIST_FEATURES from a sorted array of item structs."""
    return [
        F.col(f"{prefix}.{S.MOVIE_ID}").alias("movie_ids"),
        F.transform(f"{prefix}.{S.SCORE}", lambda s: s.cast("float")).alias("scores"),
        F.col(f"{prefix}.title").alias("titles"),
        F.col(f"{prefix}.year").alias("years"),
        F.col(f"{prefix}.genres").alias("genres"),
        F.col(f"{prefix}.poster_path").alias("poster_paths"),
    ]


def _movie_fields(movies):
    return movies.select(
        S.MOVIE_ID,
        F.coalesce("title", F.lit("")).alias("title"),
        F.coalesce(F.col("year").cast("long"), F.lit(0)).alias("year"),
        F.concat_ws(GENRE_SEPARATOR, F.coalesce("genres", F.array().cast("array<string>"))).alias("genres"),
        F.coalesce("poster_path", F.lit("")).alias("poster_path"),
    )


def _version_frames(cfg: Config, spark: SparkSession, run_id: str, state: dict, version: str) -> Version:
    movies = lake.read(spark, cfg.table_path("silver", "movies"), state["silver_versions"]["movies"]).where(~F.col("deleted"))
    fields = _movie_fields(movies)
    variant = F.when(F.col(S.LIST_NAME) == FINAL, F.lit(cfg.experiment.control)).otherwise(
        F.substring_index(F.col(S.LIST_NAME), "@", -1))
    ranked = read_lists(cfg, spark, run_id, "full", "ranked_lists").withColumn("variant", variant).join(fields, S.MOVIE_ID, "left")
    items = F.sort_array(F.collect_list(F.struct(
        S.RANK, S.MOVIE_ID, S.SCORE, "title", "year", "genres", "poster_path", S.REASON_TEXT, S.SLOT)))
    lists = ranked.groupBy("variant", S.USER_ID).agg(items.alias("items")).select(
        "variant", S.USER_ID,
        *_item_fields("items"),
        F.col(f"items.{S.REASON_TEXT}").alias("reasons"),
        F.col(f"items.{S.SLOT}").alias("slots"),
    ).toPandas()
    keys = [list_key(version, variant, FALLBACK if user == FALLBACK_USER else user)
            for variant, user in zip(lists.pop("variant"), lists.pop(S.USER_ID))]
    lists = lists.assign(list_key=keys, generated_at=datetime.now(UTC).isoformat())

    neighbours = (read_lists(cfg, spark, run_id, "full", "similar_movies")
                  .join(fields.withColumnRenamed(S.MOVIE_ID, "similar_movie_id"), "similar_movie_id", "left"))
    neighbour = F.sort_array(F.collect_list(F.struct(
        S.RANK, F.col("similar_movie_id").alias(S.MOVIE_ID), S.SCORE, "title", "year", "genres", "poster_path")))
    similar = _keyed_by_movie(neighbours.groupBy(S.MOVIE_ID).agg(neighbour.alias("items")).select(
        S.MOVIE_ID, *_item_fields("items")).toPandas(), version)

    cards = _keyed_by_movie(movies.select(
        S.MOVIE_ID,
        F.coalesce("title", F.lit("")).alias("title"),
        F.coalesce(F.col("year").cast("long"), F.lit(0)).alias("year"),
        F.coalesce("genres", F.array().cast("array<string>")).alias("genres"),
        F.coalesce("overview", F.lit("")).alias("overview"),
        F.col("runtime").cast("double").alias("runtime"),
        F.col("vote_average").cast("double").alias("vote_average"),
        F.coalesce("poster_path", F.lit("")).alias("poster_path"),
        F.coalesce("director", F.lit("")).alias("director"),
    ).toPandas(), version)
    return Version(version, lists, similar, cards)


def _keyed_by_movie(frame: pd.DataFrame, version: str) -> pd.DataFrame:
    """`frame` with its movie ids replaced by the online store's keys."""
    return frame.assign(movie_key=[movie_key(version, int(m)) for m in frame.pop(S.MOVIE_ID)])


def write_version(cfg: Config, published: Version) -> dict:
    """Write every view of `published`, then flip the manifest to it; return what was written.

    Shared by the publish step and bench/serving.py, so the bench serves what the pipeline publishes.
    """
    from features.repo import definitions

    repo = write_repo_files(cfg)
    store = open_store(cfg)
    store.apply(definitions(cfg))
    if not published.lists["list_key"].str.endswith(f":{FALLBACK}").any():
        raise PublishRefused(f"version {published.name} has no fallback list: re-run the score step")
    now = pd.Timestamp(datetime.now(UTC))
    for view, frame in (("user_recommendations", published.lists), ("similar_movies", published.similar),
                        ("movie_cards", published.cards)):
        frame = frame.assign(event_timestamp=now)
        store.write_to_online_store(view, frame)
        # Offline snapshots of what is served, for Feast's offline store (history stays in gold tables).
        frame.to_parquet(repo / "data" / f"{view}.parquet", index=False)
    variants = list(cfg.experiment.variants)
    manifest = pd.DataFrame({
        "manifest_id": [CURRENT], "version": [published.name], "published_at": [now.isoformat()],
        "experiment": [cfg.experiment.name], "variants": [variants],
        "weights": [[cfg.experiment.variants[v].weight for v in variants]], "event_timestamp": [now],
    })
    manifest.to_parquet(repo / "data" / "publish_manifest.parquet", index=False)
    store.write_to_online_store("publish_manifest", manifest)
    return {"published": True, "version": published.name, "lists": int(len(published.lists)),
            "similar_movies": int(len(published.similar)), "movie_cards": int(len(published.cards)),
            "variants": variants, "published_at": now.isoformat()}


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

    result = write_version(cfg, _version_frames(cfg, spark, run_id, state, version=run_id))
    _log(cfg, spark, run_id, result)
    result["champion_ranker_version"] = record_outcome(cfg, evaluation["mlflow_run_id"], result["version"],
                                                       ranker_file=model_path(cfg, run_id, "full").parent / "ranker.ubj")
    runs.update_state(cfg, run_id, publish=result)
    return result


def _log(cfg: Config, spark: SparkSession, run_id: str, result: dict) -> None:
    row = spark.createDataFrame([(run_id, result["version"], result["lists"], result["published_at"])],
                                f"{S.RUN_ID} string, version string, lists long, published_at string")
    row.write.format("delta").mode("append").save(cfg.table_path("gold", "publish_log"))
