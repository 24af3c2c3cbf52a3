"""Retention over repeated pipeline runs on the real engines: the online store's rows and the lake's size stay
flat, and what an old run left (run folder, gold rows, MLflow runs and artifacts) is gone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jobs import lake
from jobs.pipeline import run_pipeline
from tests.conftest import tiny_config

pytestmark = pytest.mark.spark


def _store_rows(cfg) -> int:
    with sqlite3.connect(cfg.feast.sqlite_path) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return sum(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables)


def _bytes(folder: str) -> int:
    """Data files: the Delta logs are kept whole days (jobs/retention.py), a few KB a commit."""
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file() and "_delta_log" not in f.parts)


def _gold_run_ids(spark, cfg) -> set[str]:
    ids = set()
    for path in lake.delta_tables(spark, cfg.lake_root):
        frame = lake.read(spark, path)
        if "/gold/" in path and "run_id" in frame.columns:
            ids |= {row[0] for row in frame.select("run_id").distinct().collect()}
    return ids


def test_store_rows_and_lake_size_stay_flat_and_old_runs_leave_nothing(spark, tmp_path):
    from jobs.tracking import _mlflow

    # Two generators are enough to publish: this is about what runs leave behind, three runs of it.
    cfg = tiny_config(tmp_path, retention={"days": 0, "vacuum_every_hours": 0}, publish={"keep_versions": 2},
                      models={"generators": ["popularity", "als"]})
    seen = []
    for n in range(3):
        report = run_pipeline(cfg, spark, run_id=f"run-{n}")
        assert report["published_version"] == f"run-{n}"
        seen.append({"store_rows": _store_rows(cfg), "lake_bytes": _bytes(cfg.lake_root),
                     "runs": sorted(p.name for p in Path(cfg.runs_dir).iterdir()),
                     "gold_runs": _gold_run_ids(spark, cfg), "mlflow_run": report["mlflow_run_id"],
                     "retention": report["retention"]})
    # The first old run goes once the store no longer holds its version (keep 2: the live one and its predecessor).
    assert [s["runs"] for s in seen] == [["run-0"], ["run-0", "run-1"], ["run-1", "run-2"]]
    assert seen[2]["retention"]["removed_runs"] == ["run-0"]
    assert seen[2]["gold_runs"] == {"run-1", "run-2"}
    assert seen[2]["store_rows"] == seen[1]["store_rows"], [s["store_rows"] for s in seen]
    growth = seen[2]["lake_bytes"] / seen[1]["lake_bytes"] - 1
    assert abs(growth) < 0.05, f"lake {seen[1]['lake_bytes']:,} -> {seen[2]['lake_bytes']:,} bytes"

    client = _mlflow(cfg).MlflowClient()
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment).experiment_id
    assert not client.search_runs([experiment], "tags.`movierec.run_id` = 'run-0'")
    assert client.search_runs([experiment], "tags.`movierec.run_id` = 'run-1'")
    artifacts = Path(cfg.mlflow.artifact_location)
    files = lambda run: [p for p in (artifacts / run).rglob("*") if p.is_file()]  # noqa: E731
    assert not files(seen[0]["mlflow_run"]), "mlflow gc removed the old run's artifacts (an empty folder may stay)"
    assert files(seen[1]["mlflow_run"])
