"""Daily experiment readout: once the day's ingest has landed (the `movierec_silver` asset), read out the
configured experiment from silver.exposures and silver.interactions (`jobs.experiments.report`, the same
as `movierec experiment report`): results to gold.experiment_results and MLflow, the report and its lift
plot under `<workdir>/experiments/<name>/`. A sample ratio mismatch or a decision does not fail the task:
they are in the report; a missing exposure table does (nothing to read out).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Asset, Param, dag, task

from jobs.context import RUN_PARAMS

SILVER = Asset("movierec_silver")


@dag(
    schedule=[SILVER],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        **{name: Param(**spec) for name, spec in RUN_PARAMS.items()},
        "experiment": Param(None, type=["null", "string"], description="experiment name (empty: experiment.name)"),
    },
    tags=["movierec"],
)
def movierec_experiment():
    @task(retries=1)
    def report(params=None) -> dict:
        from jobs.context import config_from_params
        from jobs.experiments.report import experiment_report
        from jobs.spark import get_spark

        cfg = config_from_params(params)
        result = experiment_report(cfg, get_spark(cfg), params.get("experiment") or None)
        return {"experiment": result["experiment"], "srm_flagged": result["srm"]["flagged"],
                "decisions": {t: d["action"] for t, d in result["decisions"].items()}}

    report()


movierec_experiment()
