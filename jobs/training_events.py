"""The training events of one pinned silver snapshot, as compact columns on the driver.

Generators train on the driver, so what arrives there must be as small as the models need: the
columns they read, event types as a category, the event id replaced by its position in the
deterministic (user, time, event id) order, which is all the split needs of it to break ties. No
pandas frame of the whole Delta table, no strings per event.

Where the snapshot's Parquet files are on local disk, DuckDB scans them directly (projection, the
join to live movies and the sort in one native pass, fetched as Arrow); anywhere else (a cluster's
object store, a table with deletion vectors or column mapping, which plain Parquet readers would
misread) Spark computes the same projection and hands it over with `toArrow`.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from data_contracts import columns as S
from jobs import lake

COLUMNS = [S.EVENT_ID, S.USER_ID, S.MOVIE_ID, S.EVENT_TYPE, S.VALUE, S.WATCH_SECONDS, S.TS]
# Table features that make a snapshot's data files alone an incomplete or misnamed view of it.
UNSAFE_FOR_PARQUET = ("delta.enableDeletionVectors", "delta.columnMapping.mode")


def local_snapshot_files(spark: SparkSession, path: str, version: int | None) -> list[str] | None:
    """The local Parquet files of `path` at `version`, or None when a plain Parquet scan would not see
    exactly the table (remote storage, deletion vectors, column mapping)."""
    properties = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["properties"] or {}
    if any(properties.get(key, "false").lower() not in ("false", "none") for key in UNSAFE_FOR_PARQUET):
        return None
    files = []
    for uri in lake.read(spark, path, version).inputFiles():
        local = lake.local_path(uri)
        if local is None:
            return None
        files.append(local)
    return files


def read_events(spark: SparkSession, path: str, version: int | None, movie_ids: np.ndarray,
                engine: str = "auto") -> pd.DataFrame:
    """Events of live movies (`movie_ids`) at `version`, sorted by (user, time, event id), with `event_id`
    as the int64 position in that order. `engine`: auto | duckdb | spark."""
    files = local_snapshot_files(spark, path, version) if engine in ("auto", "duckdb") else None
    if engine == "duckdb" and files is None:
        raise ValueError(f"{path} cannot be read as plain Parquet files")
    table = _duckdb_events(files, movie_ids) if files is not None else _spark_events(spark, path, version, movie_ids)
    return _to_frame(table)


def _duckdb_events(files: list[str], movie_ids: np.ndarray) -> pa.Table:
    con = duckdb.connect()
    try:
        con.register("live", pa.table({S.MOVIE_ID: pa.array(np.asarray(movie_ids, dtype=np.int64))}))
        if not files:
            return _spark_like_empty()
        return con.sql(f"""
            SELECT e.{S.USER_ID}, e.{S.MOVIE_ID}, e.{S.EVENT_TYPE}, e.{S.VALUE}, e.{S.WATCH_SECONDS}, e.{S.TS}
            FROM read_parquet(?) e SEMI JOIN live USING ({S.MOVIE_ID})
            ORDER BY e.{S.USER_ID}, e.{S.TS}, e.{S.EVENT_ID}
        """, params=[files]).to_arrow_table()
    finally:
        con.close()


def _spark_events(spark: SparkSession, path: str, version: int | None, movie_ids: np.ndarray) -> pa.Table:
    live = spark.createDataFrame(pd.DataFrame({S.MOVIE_ID: np.asarray(movie_ids, dtype=np.int64)}))
    frame = (lake.read(spark, path, version).join(F.broadcast(live), S.MOVIE_ID, "left_semi")
             .orderBy(S.USER_ID, S.TS, S.EVENT_ID)
             .select(S.USER_ID, S.MOVIE_ID, S.EVENT_TYPE, S.VALUE, S.WATCH_SECONDS, S.TS))
    return frame.toArrow()


def _spark_like_empty() -> pa.Table:
    return pa.table({S.USER_ID: pa.array([], pa.int64()), S.MOVIE_ID: pa.array([], pa.int64()),
                     S.EVENT_TYPE: pa.array([], pa.string()), S.VALUE: pa.array([], pa.float64()),
                     S.WATCH_SECONDS: pa.array([], pa.float64()), S.TS: pa.array([], pa.timestamp("us", tz="UTC"))})


def _to_frame(table: pa.Table) -> pd.DataFrame:
    # DuckDB gives Spark's INT96 instants as naive timestamps, Spark as zoned ones: both are UTC.
    ts = table.column(S.TS).cast(pa.timestamp("us", tz="UTC"))
    return pd.DataFrame({
        S.EVENT_ID: np.arange(table.num_rows, dtype=np.int64),
        S.USER_ID: table.column(S.USER_ID).to_numpy().astype(np.int64, copy=False),
        S.MOVIE_ID: table.column(S.MOVIE_ID).to_numpy().astype(np.int64, copy=False),
        S.EVENT_TYPE: pd.Categorical(table.column(S.EVENT_TYPE).to_pandas(), categories=list(S.EVENT_TYPES)),
        S.VALUE: table.column(S.VALUE).to_numpy(zero_copy_only=False).astype(np.float64, copy=False),
        S.WATCH_SECONDS: table.column(S.WATCH_SECONDS).to_numpy(zero_copy_only=False).astype(np.float64, copy=False),
        S.TS: ts.to_pandas(),
    })
