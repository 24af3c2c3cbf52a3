"""The DAGs parse cleanly, are wired as designed, and run with dag.test(): the daily ingest for its
data interval (the same as `movierec backfill`), and training triggered by the silver asset."""

from datetime import UTC, date, datetime

import pytest

from serving.store import OnlineLists, open_store
from tests.conftest import TINY_MODELS, TINY_SYNTHETIC, tiny_config


def test_every_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"movierec_pipeline", "movierec_ingest", "movierec_rollback", "movierec_experiment"} <= set(dagbag.dags)


def test_experiment_readout_runs_when_silver_changes(dagbag):
    dag = dagbag.dags["movierec_experiment"]
    assert [t.task_id for t in dag.tasks] == ["report"]
    assert "movierec_silver" in str(dag.timetable.asset_condition)


def test_ingest_dag_is_daily_by_data_interval_and_updates_the_silver_asset(dagbag):
    dag = dagbag.dags["movierec_ingest"]
    assert [t.task_id for t in dag.tasks] == ["ingest"]
    task = dag.get_task("ingest")
    assert [a.name for a in task.outlets] == ["movierec_silver"]
    assert task.retries == 3 and dag.max_active_runs == 1
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable", "runs get [day, day + 1) as their interval"


def test_training_runs_every_6_hours_or_when_silver_changes(dagbag):
    dag = dagbag.dags["movierec_pipeline"]
    assert "movierec_silver" in str(dag.timetable.asset_condition)
    assert dag.timetable.timetable.expression == "0 */6 * * *"


def test_task_graph(dagbag):
    dag = dagbag.dags["movierec_pipeline"]
    downstream = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert downstream == {
        "features": ["retention", "train_eval"],
        "train_eval": ["score_eval"],
        "score_eval": ["gates_pass", "train_full"],
        "gates_pass": ["train_full"],
        "train_full": ["score_full"],
        "score_full": ["publish"],
        "publish": ["retention"],
        "retention": [],
    }
    assert all(t.retries == 2 for t in dag.tasks)


@pytest.mark.slow  # about 75 s; the CLI backfill's own tests stay in the default suite (`make test-all`)
@pytest.mark.spark
def test_daily_ingest_runs_match_movierec_backfill(dagbag, spark, tmp_path):
    from jobs.backfill import backfill
    from jobs.ingest import ingested_days
    from tests.conftest import silver_fingerprint

    dag = dagbag.dags["movierec_ingest"]
    conf = {"workdir": str(tmp_path / "airflow"), "overrides": {"synthetic": TINY_SYNTHETIC}}
    task = dag.get_task("ingest")
    retries, task.retries = task.retries, 0  # dag.test() would wait out the retry delay of a failure
    try:
        for day in (2, 3):
            run = dag.test(logical_date=datetime(2026, 3, day, tzinfo=UTC), run_conf=conf)
            assert run.state == "success"
    finally:
        task.retries = retries
    by_airflow = tiny_config(tmp_path / "airflow")
    days = sorted(ingested_days(by_airflow, spark))
    assert len(days) == 2 and (days[1] - days[0]).days == 1
    by_cli = tiny_config(tmp_path / "cli")
    backfill(by_cli, spark, days[0], days[1])
    assert silver_fingerprint(spark, by_airflow) == silver_fingerprint(spark, by_cli)
    assert days[0] in (date(2026, 3, 1), date(2026, 3, 2))


@pytest.mark.spark
def test_dag_runs_every_step_and_publishes(dagbag, spark, tmp_path):
    from jobs.ingest import ingest

    ingest(tiny_config(tmp_path), spark)  # what the ingest DAG leaves in silver
    dag = dagbag.dags["movierec_pipeline"]
    conf = {"workdir": str(tmp_path), "overrides": {
        "synthetic": TINY_SYNTHETIC, "models": TINY_MODELS,
        "gates": {"min": {"ndcg@10": 0.0}, "min_ndcg_vs_popularity": 0.0}}}
    run = dag.test(run_conf=conf)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert set(states.values()) == {"success"}
    manifest = OnlineLists(open_store(tiny_config(tmp_path))).manifest()
    assert manifest and manifest.version.startswith("manual__")


@pytest.mark.spark
def test_a_failed_gate_skips_publishing(dagbag, spark, tmp_path):
    from jobs.ingest import ingest

    ingest(tiny_config(tmp_path), spark)
    dag = dagbag.dags["movierec_pipeline"]
    conf = {"workdir": str(tmp_path), "overrides": {
        "synthetic": TINY_SYNTHETIC, "models": TINY_MODELS,
        "gates": {"min": {"ndcg@10": 0.99}}}}
    run = dag.test(run_conf=conf)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["gates_pass"] == "success"
    assert states["train_full"] == states["score_full"] == states["publish"] == "skipped"
    assert OnlineLists(open_store(tiny_config(tmp_path))).manifest() is None
