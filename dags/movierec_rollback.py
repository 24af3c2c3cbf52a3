"""Rollback, triggered by hand: serve a retained version again.

From the UI: Trigger DAG w/ config on `movierec_rollback`, with `version` set to a run id from
`movierec versions` (empty: the version published before the live one) and the same `env`/`workdir`
as the pipeline's runs. From a shell: `movierec rollback [VERSION]`. Both call `jobs.versions.rollback`,
which refuses a version that was pruned or never passed its gates (the task then fails with that reason).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from jobs.context import RUN_PARAMS


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        **{name: Param(**spec) for name, spec in RUN_PARAMS.items()},
        "version": Param(None, type=["null", "string"],
                         description="run id to serve again (movierec versions); empty: the one before the live one"),
    },
    tags=["movierec"],
)
def movierec_rollback():
    @task(retries=0)  # a refused rollback does not become right by waiting
    def rollback(params=None) -> dict:
        from jobs.context import config_from_params
        from jobs.versions import rollback as run_rollback

        return run_rollback(config_from_params(params), params.get("version") or None)

    rollback()


movierec_rollback()
