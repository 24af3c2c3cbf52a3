"""`airflow backfill create` on a real Airflow (scheduler, DAG processor and API server, LocalExecutor
on SQLite) leaves the same silver tables as `movierec backfill` over the same days.

Slow (about three minutes): run with `--runslow` (`make test-all`).
"""

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import TINY_SYNTHETIC, free_port, silver_fingerprint, tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.spark]

DAGS = Path(__file__).resolve().parents[2] / "dags"
BIN = Path(sys.executable).parent


def _airflow(env, *args, check=True) -> str:
    done = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"airflow {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _runs(env) -> dict[str, str]:
    """Backfill run id -> state."""
    out = _airflow(env, "dags", "list-runs", "movierec_ingest", "-o", "json")
    # Airflow logs a warning (graphviz is not installed) on stdout before the JSON.
    runs = json.loads(next((line for line in out.splitlines() if line.startswith("[")), "[]"))
    return {r["run_id"]: r["state"] for r in runs if r["run_id"].startswith("backfill__")}


@pytest.fixture
def airflow(tmp_path):
    """A throwaway Airflow: its own home, database and API port; yields the environment to call it with."""
    home, port = tmp_path / "airflow-home", free_port()
    env = {**os.environ,
           "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
           "AIRFLOW__API_AUTH__JWT_SECRET": "movierec-test-" + "x" * 50,
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
           "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
           # Unpausing also schedules the latest day; that run goes to a workdir of its own.
           "MOVIEREC__WORKDIR": str(tmp_path / "scheduled")}
    home.mkdir()
    _airflow(env, "db", "migrate")
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = [subprocess.Popen([str(BIN / "airflow"), *command], env=env, stdout=open(logs / f"{command[0]}.log", "w"),
                                  stderr=subprocess.STDOUT)
                 for command in (["api-server", "--host", "127.0.0.1", "--port", str(port)], ["dag-processor"], ["scheduler"])]
    try:
        deadline = time.monotonic() + 120
        while "movierec_ingest" not in _airflow(env, "dags", "list", check=False):
            assert time.monotonic() < deadline, "the DAG processor did not parse dags/ in 2 minutes"
            time.sleep(3)
        yield env
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def test_airflow_backfill_and_movierec_backfill_leave_the_same_silver(airflow, spark, tmp_path):
    from jobs.backfill import backfill
    from jobs.ingest import ingested_days

    conf = {"workdir": str(tmp_path / "by-airflow"), "overrides": {"synthetic": TINY_SYNTHETIC}}
    _airflow(airflow, "dags", "unpause", "movierec_ingest")
    _airflow(airflow, "backfill", "create", "--dag-id", "movierec_ingest", "--from-date", "2026-03-02",
             "--to-date", "2026-03-03", "--max-active-runs", "1", "--dag-run-conf", json.dumps(conf))
    deadline = time.monotonic() + 480
    while True:
        runs = _runs(airflow)
        if len(runs) == 2 and all(state in ("success", "failed") for state in runs.values()):
            break
        assert time.monotonic() < deadline, f"backfill runs still not done: {runs}"
        time.sleep(5)
    assert set(runs.values()) == {"success"}, runs

    by_airflow = tiny_config(tmp_path / "by-airflow")
    assert sorted(ingested_days(by_airflow, spark)) == [date(2026, 3, 2), date(2026, 3, 3)]
    by_cli = tiny_config(tmp_path / "by-cli")
    backfill(by_cli, spark, date(2026, 3, 2), date(2026, 3, 3))
    for table in ("interactions", "movies", "users"):
        assert silver_fingerprint(spark, by_airflow, table) == silver_fingerprint(spark, by_cli, table), table
