"""Bronze: every line of a source's files as received, under a deterministic batch id (re-running a batch
replaces it), with its file, source and time of landing. Lines of forgotten users never get here: they are
dropped as they arrive and counted (jobs/suppression.py)."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from conf import Config
from data_contracts import columns as S
from jobs import lake, suppression
from jobs.sources import movielens
from jobs.sources.files import event_files, parquet_by_schema

LINEAGE = (S.BATCH_ID, S.SOURCE, S.INGESTED_AT)


@dataclass(frozen=True)
class Landing:
    """Where one source's files are and how their lines are laid out."""

    source: str
    events_path: str    # a file, or a log folder split by arrival day: dt=YYYY-MM-DD/
    events_format: str  # jsonl | ml_csv | ml_dat | files (JSON lines, CSV and Parquet, each row read as JSON)
    movies_path: str    # JSON lines, TMDB-shaped
    users_path: str | None


def raw_lines(spark: SparkSession, paths: list[str], fmt: str) -> DataFrame:
    """(payload, source_file, source_line) for every row of `paths`: lines as they are, or for `files`, CSV and
    Parquet rows turned into JSON objects (CSV files each read on their own: their columns may differ;
    Parquet files in one read per schema: a day-partitioned log has hundreds of files of one schema).
    `source_line` grows with a line's place in its file (Spark's monotonically increasing id, taken as the file
    is read): MovieLens breaks ties between ratings of the same second by it."""
    empty = spark.createDataFrame([], f"{S.PAYLOAD} string, {S.SOURCE_FILE} string, {S.SOURCE_LINE} bigint")
    if fmt != "files":
        return _numbered(spark.read.text(paths).select(F.col("value").alias(S.PAYLOAD),
                                                       F.input_file_name().alias(S.SOURCE_FILE))) if paths else empty
    found = event_files(paths)
    frames = [spark.read.text(found["json"]).select(F.col("value").alias(S.PAYLOAD), F.input_file_name().alias(S.SOURCE_FILE))
              ] if found["json"] else []
    for path in found["csv"]:
        frames.append(spark.read.csv(path, header=True, mode="PERMISSIVE", inferSchema=False)
                      .select(F.to_json(F.struct("*")).alias(S.PAYLOAD), F.lit(path).alias(S.SOURCE_FILE)))
    for group in parquet_by_schema(found["parquet"]):
        frames.append(spark.read.parquet(*group).select(F.to_json(F.struct("*")).alias(S.PAYLOAD),
                                                        F.input_file_name().alias(S.SOURCE_FILE)))
    for frame in frames:
        empty = empty.unionByName(_numbered(frame))
    return empty


def _numbered(lines: DataFrame) -> DataFrame:
    return lines.withColumn(S.SOURCE_LINE, F.monotonically_increasing_id())


def to_bronze(spark: SparkSession, cfg: Config, name: str, paths: list[str], fmt: str, landing: Landing,
               batch_id: str) -> tuple[DataFrame, int]:
    """Land the lines of `paths` as bronze batch `batch_id`; return its rows and how many lines of forgotten users
    (events, users and exposures, see jobs/suppression.py) were dropped on the way."""
    lines = raw_lines(spark, paths, fmt)
    if fmt == "ml_csv":
        lines = lines.where(F.col(S.PAYLOAD) != movielens.RATINGS_CSV_HEADER)
    lines = lines.where(F.length(F.trim(S.PAYLOAD)) > 0)
    suppressed = 0
    if name in ("events", "users", "exposures"):
        lines, suppressed = suppression.drop_suppressed(spark, cfg, lines)
    bronze = lines.select(
        S.PAYLOAD,
        F.lit(fmt).alias(S.PAYLOAD_FORMAT),
        S.SOURCE_FILE,
        S.SOURCE_LINE,
        F.lit(batch_id).alias(S.BATCH_ID),
        F.lit(landing.source).alias(S.SOURCE),
        F.current_timestamp().alias(S.INGESTED_AT),
    )
    target = cfg.table_path("bronze", name)
    # A lake landed before bronze had source_line gets the column (null on its old rows).
    lake.replace_partition(bronze, target, S.BATCH_ID, batch_id, partition_by=[S.BATCH_ID], merge_schema=True)
    return lake.read(spark, target).where(F.col(S.BATCH_ID) == batch_id), suppressed


def from_json_or_null(payload, fields: T.StructType):
    """from_json that yields null (not a struct of nulls) for a line that is not a JSON object."""
    with_corrupt = T.StructType(fields.fields + [T.StructField("_corrupt_record", T.StringType())])
    parsed = F.from_json(payload, with_corrupt, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"})
    return F.when(parsed.isNotNull() & parsed["_corrupt_record"].isNull(), parsed)
