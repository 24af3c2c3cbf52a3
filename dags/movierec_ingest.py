"""Daily ingest: the events logged in the run's data interval, through bronze and the data contracts
into silver; updates the `movierec_silver` asset, which triggers the training DAG.

`airflow backfill create --dag-id movierec_ingest --from-date D1 --to-date D2 --max-active-runs 1`
runs it for each day, in order, as `movierec backfill --start D1 --end D2` does; both call
`jobs.ingest.ingest` with the day (tests/dags/test_airflow_backfill.py runs both).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task

from jobs.context import RUN_PARAMS

SILVER = Asset("movierec_silver")


@dag(
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),  # run for [day, day + 1) after it ends
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # days land in order: the volume contract compares each with the one before
    params={name: Param(**spec) for name, spec in RUN_PARAMS.items()},
    default_args={"retries": 3, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True},
    tags=["movierec"],
)
def movierec_ingest():
    @task(outlets=[SILVER])
    def ingest(params=None, data_interval_start=None, data_interval_end=None) -> dict:
        from jobs.context import config_from_params
        from jobs.ingest import Interval, ingest as run_ingest
        from jobs.spark import get_spark

        cfg = config_from_params(params)
        report = run_ingest(cfg, get_spark(cfg), Interval(data_interval_start.date(), data_interval_end.date()))
        return {"batch_id": report["batch_id"], "interval": report["interval"],
                "landed": {name: t["landed"] for name, t in report["tables"].items()}}

    ingest()


movierec_ingest()
