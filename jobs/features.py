"""Start of a run: pin the silver versions it reads, write the gold feature tables, register them
with Feast and materialise their latest values to the online store.

The gold tables are rebuilt from the pinned silver on every run (a pure function of it, so a rerun
writes the same rows); each run records the Delta versions it wrote.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import datetime, UTC

import pandas as pd
from pyspark.sql import SparkSession

from conf import Config
from data_contracts import columns as S
from data_contracts import suites
from jobs import feature_tables, lake, runs
from jobs.errors import ContractViolation

FEATURE_TABLES = ("user_features", "movie_features", "movie_attributes")
USER_VIEW = "user_activity"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def pin_inputs(cfg: Config, spark: SparkSession, run_id: str) -> dict[str, int]:
    """Record the silver versions this run reads, so every later step sees the same data."""
    versions = {name: lake.version(spark, cfg.table_path("silver", name)) for name in ("interactions", "movies", "users")}
    # pinned_at: retention keeps the snapshots a run reads at least this long (jobs/retention.py).
    runs.update_state(cfg, run_id, silver_versions=versions, pinned_at=time.time())
    return versions


def genre_vocabulary(spark: SparkSession, cfg: Config, movies_version: int) -> list[str]:
    """The order of `genre_affinity`: the sorted genres of the catalog at the pinned version."""
    movies = lake.read(spark, cfg.table_path("silver", "movies"), movies_version)
    return sorted(r[0] for r in movies.selectExpr("explode(genres)").distinct().collect() if r[0])


def build_features(cfg: Config, spark: SparkSession, run_id: str) -> dict:
    """Pin the run's inputs, write the gold feature tables, apply the Feast repo and materialise;
    return row counts, the genre order and the table versions written."""
    versions = pin_inputs(cfg, spark, run_id)
    events = lake.read(spark, cfg.table_path("silver", "interactions"), versions["interactions"])
    movies = lake.read(spark, cfg.table_path("silver", "movies"), versions["movies"])
    users = lake.read(spark, cfg.table_path("silver", "users"), versions["users"])
    genres = genre_vocabulary(spark, cfg, versions["movies"])
    windows = cfg.feast.windows_days
    frames = {
        "user_features": feature_tables.user_features(events, movies, users, genres, windows, cfg.interactions),
        "movie_features": feature_tables.movie_features(events, windows, cfg.interactions),
        "movie_attributes": feature_tables.movie_attributes(movies),
    }
    frames = {name: frame.cache() for name, frame in frames.items()}
    try:
        _check_contracts(cfg, run_id, frames)
        counts, written = {}, {}
        for name, frame in frames.items():
            path = cfg.table_path("gold", name)
            frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
            written[name] = lake.version(spark, path)
            counts[name] = lake.read(spark, path, written[name]).count()
    finally:
        for frame in frames.values():
            frame.unpersist()
    materialised = apply_and_materialise(cfg)
    result = {"rows": counts, "genres": genres, "versions": written, "materialised": materialised}
    runs.update_state(cfg, run_id, features=result)
    return result


def _check_contracts(cfg: Config, run_id: str, frames: dict) -> None:
    """Every gold table's suite, before any is written: a failure leaves the previous tables (and
    the online store) as they were. Results are saved under the run's `validations/` folder."""
    contracts = suites.gold_contracts(cfg.feast.windows_days)
    failures = []
    for name, frame in frames.items():
        verdict = suites.validate(frame, name, None, min_rows=1, contract=contracts[name])
        saved = suites.save(verdict, cfg.run_dir(run_id) / "validations")
        if not verdict.success:
            failures.append(f"gold.{name}: {'; '.join(verdict.failed)} (result in {saved})")
    if failures:
        raise ContractViolation("the features break their contract, nothing was written: " + " | ".join(failures))


# Feast's Spark offline store switches this on for its own queries and leaves it on, which breaks
# Delta's data skipping on backquoted column names (MERGEs and filtered reads of the state tables).
QUOTED_REGEX = "spark.sql.parser.quotedRegexColumnNames"


@contextmanager
def _feast_on_spark() -> Iterator[None]:
    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    before = spark.conf.get(QUOTED_REGEX, "false")
    try:
        yield
    finally:
        spark.conf.set(QUOTED_REGEX, before)


def apply_and_materialise(cfg: Config) -> list[str]:
    """`feast apply` of this configuration's definitions, then load every feature view's latest
    values (as of now) into the online store."""
    from features.repo import definitions, feature_views
    from serving.store import open_store, write_repo_files

    write_repo_files(cfg)
    store = open_store(cfg)
    store.apply(definitions(cfg))
    views = [view.name for view in feature_views(cfg)]
    # From the epoch, not incrementally: the gold tables are rebuilt whole each run, and an entity
    # quiet for longer than any incremental window must still get its latest row.
    printed = io.StringIO()
    with _feast_on_spark(), redirect_stdout(printed):
        store.materialize(start_date=EPOCH, end_date=datetime.now(UTC), feature_views=views)
    # Feast prints what it materialised on stdout, where the CLI's JSON summary goes: into Feast's log instead.
    logging.getLogger("feast").info(printed.getvalue().strip())
    return views


def user_features_at(cfg: Config, entity_rows: pd.DataFrame) -> pd.DataFrame:
    """`user_activity` features of each (user_id, event_timestamp) row, point-in-time correct: the
    values from the latest gold row stamped at or before the row's time (NaN where there is none).

    Runs through Feast's Spark offline store on the active Spark session.
    """
    from features.repo import feature_views
    from serving.store import open_store

    view = next(v for v in feature_views(cfg) if v.name == USER_VIEW)
    refs = [f"{USER_VIEW}:{field.name}" for field in view.schema]
    rows = entity_rows[[S.USER_ID, "event_timestamp"]].assign(
        event_timestamp=pd.to_datetime(entity_rows["event_timestamp"], utc=True))
    with _feast_on_spark():
        joined = open_store(cfg).get_historical_features(entity_df=rows, features=refs).to_df()
    return joined.sort_values([S.USER_ID, "event_timestamp"]).reset_index(drop=True)
