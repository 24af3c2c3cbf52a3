"""Start of a run: pin the silver versions it reads, then gold per-user and per-movie aggregates."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from conf import Config
from data_contracts import columns as S
from jobs import lake, runs


def pin_inputs(cfg: Config, spark: SparkSession, run_id: str) -> dict[str, int]:
    """Record the silver versions this run reads, so every later step sees the same data."""
    versions = {name: lake.version(spark, cfg.table_path("silver", name)) for name in ("interactions", "movies", "users")}
    runs.update_state(cfg, run_id, silver_versions=versions)
    return versions


def build_features(cfg: Config, spark: SparkSession, run_id: str) -> dict[str, int]:
    """Pin the run's inputs, then write gold user_features and movie_features for `run_id`; return their row counts."""
    versions = pin_inputs(cfg, spark, run_id)
    events = lake.read(spark, cfg.table_path("silver", "interactions"), versions["interactions"])
    is_rating = F.col(S.EVENT_TYPE) == "rating"
    users = events.groupBy(S.USER_ID).agg(
        F.count("*").alias("events"),
        F.countDistinct(S.MOVIE_ID).alias("movies"),
        F.avg(F.when(is_rating, F.col(S.VALUE))).alias("avg_rating"),
        F.min(S.TS).alias("first_event_ts"),
        F.max(S.TS).alias("last_event_ts"),
    )
    movies = events.groupBy(S.MOVIE_ID).agg(
        F.count("*").alias("events"),
        F.countDistinct(S.USER_ID).alias("users"),
        F.avg(F.when(is_rating, F.col(S.VALUE))).alias("avg_rating"),
        F.max(S.TS).alias("last_event_ts"),
    )
    counts = {}
    for name, frame in (("user_features", users), ("movie_features", movies)):
        frame = frame.withColumn(S.RUN_ID, F.lit(run_id)).withColumn("event_timestamp", F.current_timestamp())
        lake.replace_partition(frame, cfg.table_path("gold", name), S.RUN_ID, run_id, partition_by=[S.RUN_ID])
        counts[name] = lake.read(spark, cfg.table_path("gold", name)).where(F.col(S.RUN_ID) == run_id).count()
    return counts
