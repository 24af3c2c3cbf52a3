"""Training: every 6 hours, or as soon as the ingest DAG has updated silver: features, train +
evaluate on a temporal split, and publish if the gates pass.

Each task is one call into `jobs/`; heavy imports happen inside tasks so parsing stays cheap.

To go back to an earlier version, trigger `movierec_rollback` (see dags/movierec_rollback.py) or run
`movierec rollback [VERSION]`; `movierec versions` lists what can be served.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from jobs.context import RUN_PARAMS

SILVER = Asset("movierec_silver")  # updated by dags/movierec_ingest.py


def _spark(params):
    from jobs.context import config_from_params
    from jobs.spark import get_spark

    cfg = config_from_params(params)
    return cfg, get_spark(cfg)


@dag(
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 */6 * * *", timezone="UTC"), assets=[SILVER]),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={name: Param(**spec) for name, spec in RUN_PARAMS.items()},
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["movierec"],
)
def movierec_pipeline():
    @task
    def features(params=None, run_id=None) -> str:
        from jobs.features import build_features
        from jobs.runs import safe_run_id

        movierec_run = safe_run_id(run_id)
        cfg, spark = _spark(params)
        build_features(cfg, spark, movierec_run)
        return movierec_run

    @task
    def train(movierec_run: str, split: str, params=None) -> str:
        from jobs.train import train as run_train

        cfg, spark = _spark(params)
        run_train(cfg, spark, movierec_run, split)
        return movierec_run

    @task
    def score(movierec_run: str, split: str, params=None) -> str:
        from jobs.score import score as run_score

        cfg, spark = _spark(params)
        run_score(cfg, spark, movierec_run, split)
        return movierec_run

    # Skips only train_full when the gates fail; what follows goes by its trigger rule, so retention still runs.
    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def gates_pass(movierec_run: str, params=None) -> bool:
        from jobs.evaluate import evaluate

        cfg, spark = _spark(params)
        return evaluate(cfg, spark, movierec_run)["gates"]["passed"]

    @task
    def publish(movierec_run: str, params=None) -> dict:
        from jobs.publish import publish as run_publish

        cfg, spark = _spark(params)
        return run_publish(cfg, spark, movierec_run)

    @task(trigger_rule="all_done")  # after a gated-out or failed run too: what old runs left still goes
    def retention(movierec_run: str, params=None) -> dict:
        from jobs.retention import apply_retention

        cfg, spark = _spark(params)
        return apply_retention(cfg, spark)

    run = features()
    evaluated = score.override(task_id="score_eval")(train.override(task_id="train_eval")(run, "eval"), "eval")
    passed = gates_pass(evaluated)
    full = train.override(task_id="train_full")(evaluated, "full")
    passed >> full
    publish(score.override(task_id="score_full")(full, "full")) >> retention(run)


movierec_pipeline()
