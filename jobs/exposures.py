"""Ingest the API's exposure log (serving/exposures.py) into silver.exposures, under a contract like events.

The log's day folders (`dt=YYYY-MM-DD`, the UTC day the lists were served) are read whole, or only the
days of the ingest interval. Each line lands in bronze.exposures under the ingest's batch id; rows that
break a rule (data_contracts/rules.py `exposure_rules`) go to quarantine with the rule's name; the batch's
Great Expectations suite must pass; then the rows are MERGEd on exposure_id (insert-only: an exposure is
immutable, and the same file ingested twice inserts nothing), partitioned by the day they were served.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from conf import Config
from data_contracts import rules
from data_contracts import columns as S
from data_contracts.schema import EXPOSURE_SCHEMA
from jobs import lake
from jobs.bronze import LINEAGE, Landing, from_json_or_null, to_bronze
from jobs.quarantine import enforce_contract, quarantine_bad_rows

TABLE = "exposures"


def log_files(folder: str, days: list | None) -> list[str]:
    """The exposure log's files, for `days` (dates) or all of them, in a fixed order."""
    root = Path(folder)
    day_dirs = sorted(root.glob("dt=*")) if days is None else [root / f"dt={d.isoformat()}" for d in days]
    return [str(p) for d in day_dirs if d.is_dir() for p in sorted(d.glob("*.jsonl"))]


def parse_exposures(bronze: DataFrame) -> DataFrame:
    """Bronze exposure lines -> typed columns plus `_parsed` (null when the line is not JSON)."""
    text = T.StructType([T.StructField(f.name, T.StringType()) for f in EXPOSURE_SCHEMA.fields
                         if f.name != "movie_ids"] + [T.StructField("movie_ids", T.ArrayType(T.StringType()))])
    p = "_parsed"
    parsed = bronze.withColumn(p, from_json_or_null(F.col(S.PAYLOAD), text))
    typed = []
    for field in EXPOSURE_SCHEMA.fields:
        column = F.col(f"{p}.{field.name}")
        if field.name == "movie_ids":
            column = F.transform(column, lambda m: m.try_cast("long"))
        elif field.name == S.SERVED_AT:
            column = F.try_to_timestamp(column)
        elif not isinstance(field.dataType, T.StringType):
            column = column.try_cast(field.dataType)
        typed.append(column.alias(field.name))
    return parsed.select(p, *typed, S.PAYLOAD, S.SOURCE_FILE, S.BATCH_ID, S.SOURCE, S.INGESTED_AT)


def land_exposures(cfg: Config, spark: SparkSession, bronze: DataFrame, batch_id: str) -> dict:
    """Check, quarantine and MERGE one bronze batch of exposures; return its counts."""
    checked, read, by_rule = quarantine_bad_rows(cfg, parse_exposures(bronze), rules.exposure_rules(), TABLE, batch_id)
    valid = (checked.where(F.col(S.REASON).isNull())
             .select(*[f.name for f in EXPOSURE_SCHEMA.fields], *LINEAGE)
             .dropDuplicates([S.EXPOSURE_ID]).cache())
    landed = valid.count()
    saved = enforce_contract(cfg, valid, TABLE, EXPOSURE_SCHEMA, batch_id, min_rows=0, release=(checked, valid))
    inserted = lake.merge_insert_new(spark, valid.withColumn(S.SERVED_DATE, F.to_date(S.SERVED_AT)),
                                     cfg.table_path("silver", TABLE), [S.EXPOSURE_ID], partition_by=[S.SERVED_DATE])
    checked.unpersist()
    valid.unpersist()
    quarantined = sum(by_rule.values())
    return {"read": read, "landed": landed, "duplicates": read - quarantined - landed, "quarantined": quarantined,
            "inserted": inserted, "by_rule": by_rule, "contract": str(saved)}


def ingest_exposures(cfg: Config, spark: SparkSession, batch_id: str, days: list | None = None) -> dict | None:
    """Land the exposure log's files (of `days`, or all) as batch `batch_id`; None when there is no log."""
    folder = cfg.serving.exposure_log
    files = log_files(folder, days) if folder else []
    if not files:
        return None
    landing = Landing("api", folder, "jsonl", "", None)
    bronze, _ = to_bronze(spark, cfg, TABLE, files, "jsonl", landing, batch_id)
    return {**land_exposures(cfg, spark, bronze, batch_id), "files": len(files)}

