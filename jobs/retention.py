"""Retention: what runs leave behind goes after `retention.days`, so the workdir does not grow with every run.

A run is kept while it is younger than the window (by when it last wrote its state) or while the online
store holds its version (`movierec versions` and `rollback` need its state); the online store itself is
trimmed by publish (`publish.keep_versions`). For every other run this deletes, in an order that a
failure half-way only postpones: its MLflow runs, logged models and registered model versions (then
MLflow's own garbage collection removes their artifacts), its rows in every gold table, its
validation results, and last its run folder. Then every Delta table is VACUUMed and its log expired
with a window that still reaches the oldest kept run's pinned snapshots.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from pathlib import Path

from pyspark.sql import SparkSession

from conf import Config
from data_contracts import columns as S
from jobs import lake

log = logging.getLogger("movierec.retention")
DAY = 86_400.0


def runs_to_remove(ages_days: dict[str, float], days: float, held: set[str]) -> list[str]:
    """Runs older than `days` whose version the online store does not hold."""
    return sorted(run for run, age in ages_days.items() if age > days and run not in held)


def vacuum_hours(kept_pinned_days: list[float], days: float) -> float:
    """The VACUUM and log window: `days`, or longer if a kept run pinned its silver versions before that. A file
    removed after a run pinned its snapshot was removed less than that long ago, so VACUUM keeps it."""
    return max(days, *kept_pinned_days) * 24.0 if kept_pinned_days else days * 24.0


def _run_ages(cfg: Config, now: float) -> tuple[dict[str, float], dict[str, float]]:
    """Per run, days since it last wrote its state (how long it has been finished) and since it pinned its inputs."""
    root = Path(cfg.runs_dir)
    idle, pinned = {}, {}
    for folder in root.iterdir() if root.is_dir() else ():
        state = folder / "state.json"
        stamp = state.stat().st_mtime if state.exists() else folder.stat().st_mtime
        started = json.loads(state.read_text()).get("pinned_at", stamp) if state.exists() else stamp
        idle[folder.name], pinned[folder.name] = (now - stamp) / DAY, (now - min(started, stamp)) / DAY
    return idle, pinned


def _held_versions(cfg: Config) -> set[str]:
    if not Path(cfg.feast.repo_dir, "registry.db").exists():
        return set()
    from serving.store import OnlineLists, open_store

    return set(OnlineLists(open_store(cfg)).versions())


def apply_retention(cfg: Config, spark: SparkSession, now: float | None = None) -> dict:
    """Remove what runs outside the window left; VACUUM the lake. Returns what was removed."""
    start = time.perf_counter()
    now = time.time() if now is None else now
    ages, pinned = _run_ages(cfg, now)
    held = _held_versions(cfg)
    removed = runs_to_remove(ages, cfg.retention.days, held)
    kept = [run for run in ages if run not in removed]
    mlflow_runs = _remove_mlflow_runs(cfg, removed)
    gold_rows = _delete_gold_rows(cfg, spark, kept)
    validations = _remove_old_validations(cfg, now)
    for run in removed:
        shutil.rmtree(cfg.run_dir(run), ignore_errors=True)
    hours = vacuum_hours([pinned[run] for run in kept], cfg.retention.days)
    vacuumed = _vacuum(cfg, spark, hours) if _vacuum_due(cfg, now) else []
    result = {"removed_runs": removed, "kept_runs": sorted(kept), "mlflow_runs_deleted": mlflow_runs,
              "gold_rows_deleted": gold_rows, "validations_removed": validations,
              "vacuum_hours": round(hours, 4), "vacuumed_tables": len(vacuumed),
              "seconds": round(time.perf_counter() - start, 2)}
    log.info("retention: removed %d runs (kept %d), %d gold rows, %d MLflow runs; vacuumed %d tables (%.1f h window)",
             len(removed), len(kept), sum(gold_rows.values()), mlflow_runs, len(vacuumed), hours)
    return result


def _remove_mlflow_runs(cfg: Config, run_ids: list[str]) -> int:
    """Delete the MLflow runs tagged with these movierec runs (children too), their logged models and registered
    ranker versions, then garbage-collect them so their artifacts are gone from disk."""
    if not run_ids:
        return 0
    from mlflow.cli import gc

    from jobs.tracking import _mlflow

    mlflow = _mlflow(cfg)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    doomed: list[str] = []
    for run_id in run_ids:
        parents = client.search_runs([experiment.experiment_id], f"tags.`movierec.run_id` = '{run_id}'")
        for parent in parents:
            children = client.search_runs([experiment.experiment_id],
                                          f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
            doomed += [parent.info.run_id, *(child.info.run_id for child in children)]
    if not doomed:
        return 0
    models = []
    for mlflow_run in doomed:
        for version in client.search_model_versions(f"run_id = '{mlflow_run}'"):
            client.delete_model_version(version.name, version.version)
        for model in client.search_logged_models([experiment.experiment_id],
                                                 filter_string=f"source_run_id = '{mlflow_run}'"):
            client.delete_logged_model(model.model_id)
            models.append(model.model_id)
        client.delete_run(mlflow_run)
    arguments = ["--backend-store-uri", cfg.mlflow.tracking_uri, "--run-ids", ",".join(doomed)]
    if models:
        arguments += ["--logged-model-ids", ",".join(models)]
    gc.main(arguments, standalone_mode=False)
    return len(doomed)


def _delete_gold_rows(cfg: Config, spark: SparkSession, kept: list[str]) -> dict[str, int]:
    """Delete rows of runs not kept from every gold table with a run id: Delta's DELETE, whose files VACUUM then removes."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    deleted = {}
    for path in lake.delta_tables(spark, cfg.lake_root):
        layer, name = lake.layer_and_name(path)
        if layer != "gold":
            continue
        table = DeltaTable.forPath(spark, path)
        if S.RUN_ID not in table.toDF().columns:
            continue
        stale = ~F.col(S.RUN_ID).isin(kept) if kept else F.lit(True)
        if table.toDF().where(stale).isEmpty():
            continue
        table.delete(stale)
        deleted[name] = lake.last_written_rows(spark, path, "numDeletedRows")
    return deleted


def _remove_old_validations(cfg: Config, now: float) -> int:
    """Data-contract results of batches older than the window (the volume history file stays)."""
    folder = cfg.validations_dir
    if not folder.is_dir():
        return 0
    old = [batch for batch in folder.iterdir()
           if batch.is_dir() and (now - batch.stat().st_mtime) / DAY > cfg.retention.days]
    for batch in old:
        shutil.rmtree(batch, ignore_errors=True)
    return len(old)


def _vacuum_due(cfg: Config, now: float) -> bool:
    """VACUUM lists and rewrites every table's log: once per `retention.vacuum_every_hours` is enough (the
    pipeline runs every 6 hours), recorded beside the run folders."""
    if cfg.retention.vacuum_every_hours is None:
        return False
    record = Path(cfg.workdir) / "retention.json"
    # A new workdir starts the clock: its lake has nothing to vacuum yet, and a first run pays nothing for it.
    last = json.loads(record.read_text())["vacuumed_at"] if record.exists() else now
    due = (now - last) / 3600 >= cfg.retention.vacuum_every_hours
    if due or not record.exists():
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"vacuumed_at": now}))
    return due


def _vacuum(cfg: Config, spark: SparkSession, hours: float) -> list[str]:
    """VACUUM every Delta table. Runs time-travel only in silver (the versions they pin), so silver, bronze and
    the rest keep `hours`, reaching back to the oldest kept run's pin; gold is read at its latest version, so
    it keeps `retention.days` and a removed run's rows leave the disk at once. Below Delta's 7-day safety
    default the check is lifted for these calls only: the windows come from the runs that read the tables,
    and runs do not overlap (the pipeline DAG runs one at a time)."""
    tables = lake.delta_tables(spark, cfg.lake_root)
    with lake.retention_check_lifted(spark):
        for path in tables:
            layer, _ = lake.layer_and_name(path)
            window = cfg.retention.days * 24.0 if layer == "gold" else hours
            # Log files past the window go at a checkpoint; whole days, so the property (a commit) rarely changes.
            log_days = f"interval {max(1, math.ceil(window / 24))} days"
            properties = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["properties"] or {}
            if properties.get("delta.logRetentionDuration") != log_days:
                spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.logRetentionDuration' = '{log_days}')")
            # LITE: the files to delete come from the log, not from listing the table's folder.
            spark.sql(f"VACUUM delta.`{path}` LITE RETAIN {math.ceil(window * 60) / 60:.4f} HOURS").collect()
    return tables
