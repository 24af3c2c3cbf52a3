"""Backfills: the daily ingest over a range of days, in order, resumable.

`movierec backfill --start D1 --end D2` and Airflow runs of the ingest DAG over the same days
call the same `ingest(cfg, spark, Interval(day, day + 1))`, so they leave silver the same.
Days already in the ingest log are skipped unless `force`: after a failure in the middle,
running the same command again carries on from the day that failed.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import SparkSession

from conf import Config
from jobs.errors import PipelineError
from jobs.ingest import Interval, ingest, ingested_days


class BackfillStopped(PipelineError):
    """A day failed; the days before it are ingested and logged."""


def backfill(cfg: Config, spark: SparkSession, start: date, end: date, force: bool = False) -> dict:
    """Ingest each day from `start` to `end` inclusive; return {"ingested": [...], "skipped": [...]}."""
    if end < start:
        raise PipelineError(f"--end {end} is before --start {start}")
    done = set() if force else ingested_days(cfg, spark)
    result: dict = {"ingested": [], "skipped": []}
    day = start
    while day <= end:
        if day in done:
            result["skipped"].append(day.isoformat())
        else:
            try:
                report = ingest(cfg, spark, Interval(day, day + timedelta(days=1)))
            except Exception as exc:
                raise BackfillStopped(
                    f"backfill stopped at {day}: {exc}. Days {start} to {day - timedelta(days=1)} are done; "
                    f"run the same command again to carry on from {day}.") from exc
            result["ingested"].append({"day": day.isoformat(), "batch_id": report["batch_id"],
                                       "landed": {t: c["landed"] for t, c in report["tables"].items()}})
        day += timedelta(days=1)
    return result
