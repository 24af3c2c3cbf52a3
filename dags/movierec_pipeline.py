"""Every 6 hours: ingest, features, train + evaluate on a temporal split, and publish if the gates pass.

Each task is one call into `jobs/`; heavy imports happen inside tasks so parsing stays cheap.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

PARAMS = {
    "env": Param(None, type=["null", "string"], description="conf/<env>.yaml; default $MOVIEREC_ENV or local"),
    "workdir": Param(None, type=["null", "string"], description="lake, runs, Feast repo and MLflow store"),
    "source": Param(None, type=["null", "string"], enum=[None, "synthetic", "movielens"]),
    "data_dir": Param(None, type=["null", "string"]),
    "tmdb_dir": Param(None, type=["null", "string"]),
    "overrides": Param({}, type="object", description="nested config overrides"),
}


def _spark(params):
    from jobs.context import config_from_params
    from jobs.spark import get_spark

    cfg = config_from_params(params)
    return cfg, get_spark(cfg)


@dag(
    schedule=timedelta(hours=6),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["movierec"],
)
def movierec_pipeline():
    @task
    def ingest(params=None, run_id=None) -> str:
        from jobs.ingest import ingest as run_ingest
        from jobs.runs import safe_run_id

        cfg, spark = _spark(params)
        run_ingest(cfg, spark)
        return safe_run_id(run_id)

    @task
    def features(movierec_run: str, params=None) -> str:
        from jobs.features import build_features

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

    @task.short_circuit
    def gates_pass(movierec_run: str, params=None) -> bool:
        from jobs.evaluate import evaluate

        cfg, spark = _spark(params)
        return evaluate(cfg, spark, movierec_run)["gates"]["passed"]

    @task
    def publish(movierec_run: str, params=None) -> dict:
        from jobs.publish import publish as run_publish

        cfg, spark = _spark(params)
        return run_publish(cfg, spark, movierec_run)

    run = features(ingest())
    evaluated = score.override(task_id="score_eval")(train.override(task_id="train_eval")(run, "eval"), "eval")
    passed = gates_pass(evaluated)
    full = train.override(task_id="train_full")(evaluated, "full")
    passed >> full
    publish(score.override(task_id="score_full")(full, "full"))


movierec_pipeline()
