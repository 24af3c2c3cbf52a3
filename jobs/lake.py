"""Small Delta helpers shared by the steps: write, merge, read at a version."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlparse

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F


def local_path(uri: str) -> str | None:
    """`uri` (a path, or a URI as Spark names files) on this machine's file system; None for remote storage
    (hdfs:, s3a:, ...), which only Spark reads."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return uri if parsed.scheme == "" else None


def exists(spark: SparkSession, path: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path)


def replace_partition(df: DataFrame, path: str, column: str, value: str, partition_by: list[str] | None = None,
                      merge_schema: bool = False) -> None:
    """Overwrite only the rows where `column = value`, so re-running one batch/run is idempotent."""
    replace_where(df, path, {column: value}, partition_by, merge_schema)


def replace_where(df: DataFrame, path: str, where: dict[str, str], partition_by: list[str] | None = None,
                  merge_schema: bool = False) -> None:
    """Overwrite only the rows matching every `column = value` of `where`; `merge_schema` adds `df`'s new columns
    to the table."""
    condition = " AND ".join(f"{column} = '{value}'" for column, value in where.items())
    writer = df.write.format("delta").mode("overwrite").option("replaceWhere", condition)
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)


def merge_insert_new(spark: SparkSession, df: DataFrame, path: str, keys: list[str], partition_by: list[str] | None = None) -> int:
    """Insert rows whose keys are not in the table yet; existing rows are left untouched.

    Returns the number of rows inserted.
    """
    if not exists(spark, path):
        if partition_by:
            # One file per partition value rather than one per task and value.
            df.repartition(*partition_by).write.format("delta").mode("overwrite").partitionBy(*partition_by).save(path)
        else:
            df.write.format("delta").mode("overwrite").save(path)
        return df.count()
    condition = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    table = DeltaTable.forPath(spark, path)
    metrics = table.alias("t").merge(df.alias("s"), condition).whenNotMatchedInsertAll().execute().first()
    return _merged_rows(metrics, "num_inserted_rows")


def merge_upsert(spark: SparkSession, df: DataFrame, path: str, keys: list[str], ignore_changes: tuple[str, ...] = ()) -> int:
    """Insert new keys and overwrite existing ones only where a column changed (latest wins).

    Columns in `ignore_changes` (lineage such as batch_id) do not by themselves make a row changed.

    Returns inserted + updated rows.
    """
    if not exists(spark, path):
        df.write.format("delta").mode("overwrite").save(path)
        return df.count()
    condition = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    compared = [c for c in df.columns if c not in keys and c not in ignore_changes]
    changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in compared)
    table = DeltaTable.forPath(spark, path)
    metrics = (table.alias("t").merge(df.alias("s"), condition)
               .whenMatchedUpdateAll(condition=changed or None)
               .whenNotMatchedInsertAll()
               .execute().first())
    return _merged_rows(metrics, "num_inserted_rows") + _merged_rows(metrics, "num_updated_rows")


def merge_versions(spark: SparkSession, df: DataFrame, path: str, key: str, ignore_changes: tuple[str, ...] = ()) -> int:
    """Upsert versioned rows (`updated_at`) with tombstones (`deleted`): a row replaces the stored one only
    if it is at least as new and something changed, so replaying an old batch changes nothing; a
    tombstone only marks a stored row deleted, and is never inserted. Returns inserted + updated rows."""
    live = df.where(~F.col("deleted"))
    if not exists(spark, path):
        live.write.format("delta").mode("overwrite").save(path)
        return live.count()
    ignored = {key, "updated_at", *ignore_changes}
    changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in df.columns if c not in ignored)
    newer = "s.updated_at >= t.updated_at"
    retire = {"deleted": "true", "updated_at": "s.updated_at", **{c: f"s.`{c}`" for c in ignore_changes}}
    metrics = (DeltaTable.forPath(spark, path).alias("t").merge(df.alias("s"), f"t.{key} = s.{key}")
               .whenMatchedUpdate(condition=f"s.deleted AND NOT t.deleted AND {newer}", set=retire)
               .whenMatchedUpdateAll(condition=f"NOT s.deleted AND {newer} AND ({changed})")
               .whenNotMatchedInsertAll(condition="NOT s.deleted")
               .execute().first())
    return _merged_rows(metrics, "num_inserted_rows") + _merged_rows(metrics, "num_updated_rows")


def _merged_rows(metrics, name: str) -> int:
    """A count from the row MERGE returns (the table's history is no guide: a MERGE that changes nothing
    may not commit, leaving the previous operation's metrics on top)."""
    return int(metrics[name] or 0) if metrics is not None and name in metrics.asDict() else 0


def last_written_rows(spark: SparkSession, path: str, metric: str = "numOutputRows") -> int:
    """Rows the table's latest commit wrote (or, with `metric="numDeletedRows"`, deleted), from its metrics:
    counting the written frame again would recompute it (a whole scoring pass) or need it cached."""
    metrics = DeltaTable.forPath(spark, path).history(1).select("operationMetrics").first()[0] or {}
    return int(metrics.get(metric, 0))


@contextmanager
def retention_check_lifted(spark: SparkSession) -> Iterator[None]:
    """Delta's 7-day minimum VACUUM window lifted for the calls in the block only (retention and erasure choose
    their own windows), then put back as it was."""
    check = "spark.databricks.delta.retentionDurationCheck.enabled"
    previous = spark.conf.get(check, "true")
    spark.conf.set(check, "false")
    try:
        yield
    finally:
        spark.conf.set(check, previous)


def layer_and_name(path: str) -> tuple[str, str]:
    """("silver", "interactions") for a table at `<lake_root>/silver/interactions`."""
    layer, name = path.rstrip("/").split("/")[-2:]
    return layer, name


def version(spark: SparkSession, path: str) -> int:
    return int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])


def read(spark: SparkSession, path: str, at_version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if at_version is not None:
        reader = reader.option("versionAsOf", at_version)
    return reader.load(path)


def delta_tables(spark: SparkSession, root: str) -> list[str]:
    """Every Delta table at `root/<layer>/<name>`, on whatever file system the lake is on."""
    jvm = spark.sparkContext._jvm
    base = jvm.org.apache.hadoop.fs.Path(root)
    fs = base.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(base):
        return []
    tables = []
    for layer in fs.listStatus(base):
        if not layer.isDirectory():
            continue
        for table in fs.listStatus(layer.getPath()):
            if table.isDirectory() and fs.exists(jvm.org.apache.hadoop.fs.Path(table.getPath(), "_delta_log")):
                tables.append(table.getPath().toString())
    return sorted(tables)
