"""The suppression list: users who were forgotten (jobs/erasure.py) never come back.

It holds the SHA-256 of each forgotten user's id, never the id. Ingest reads the user id of every raw line of
events and users as it arrives and drops the lines of suppressed users before bronze (counted, not
quarantined: quarantine would keep them), so replaying old logs or a backfill lands nothing of theirs.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, UTC

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from conf import Config
from data_contracts import columns as S
from jobs import lake

TABLE = ("state", "suppressed_users")


def user_hash(user_id: int) -> str:
    """SHA-256 of the id's decimal digits, as `hash_column` computes it in Spark."""
    return hashlib.sha256(str(user_id).encode()).hexdigest()


def hash_column(user_id: Column) -> Column:
    return F.sha2(user_id.cast("string"), 256)


def payload_user_id(payload: Column) -> Column:
    """The user id of a raw line as ingest reads it (jobs.ingest.parse_events and parse_users): the `user_id` of a
    JSON object, else the first field of a MovieLens line ("u,m,r,t" or "u::m::r::t"); null where there is none."""
    raw = F.when(F.ltrim(payload).startswith("{"), F.get_json_object(payload, "$.user_id")).otherwise(
        F.regexp_extract(payload, r"^([^,:]*)", 1))
    return F.trim(raw).try_cast("bigint")


def path(cfg: Config) -> str:
    return cfg.table_path(*TABLE)


def suppressed_hashes(spark: SparkSession, cfg: Config) -> DataFrame | None:
    """The hashes on the list, or None when nobody was ever forgotten (ingest then does no extra work)."""
    if not lake.exists(spark, path(cfg)):
        return None
    return lake.read(spark, path(cfg)).select(S.USER_HASH)


def drop_suppressed(spark: SparkSession, cfg: Config, lines: DataFrame) -> tuple[DataFrame, int]:
    """`lines` (with a PAYLOAD column) without those of suppressed users, and how many were dropped. A line whose
    user id cannot be read stays: the row rules quarantine it."""
    hashes = suppressed_hashes(spark, cfg)
    if hashes is None:
        return lines, 0
    key = "_user_hash"
    keyed = lines.withColumn(key, hash_column(payload_user_id(F.col(S.PAYLOAD))))
    listed = F.broadcast(hashes.select(F.col(S.USER_HASH).alias(key)))
    dropped = keyed.join(listed, key, "left_semi").count()
    if dropped == 0:
        return lines, 0
    return keyed.join(listed, key, "left_anti").drop(key), dropped


def add(spark: SparkSession, cfg: Config, hashes: list[str]) -> None:
    """Put `hashes` on the list (once each)."""
    now = datetime.now(UTC)
    rows = spark.createDataFrame([(h, now) for h in hashes], f"{S.USER_HASH} string, suppressed_at timestamp")
    lake.merge_insert_new(spark, rows, path(cfg), [S.USER_HASH])
