"""The whole pipeline on tiny synthetic data: report shape, gates, atomic publish, MLflow."""

import json

import pandas as pd
import pytest

from jobs.pipeline import run_pipeline
from serving.store import FALLBACK, open_store, read_list, read_manifest
from tests.conftest import tiny_config

pytestmark = pytest.mark.spark

METRICS = {"precision@10", "recall@10", "ndcg@10", "hit_rate@10", "coverage@10", "serendipity@10", "users"}


def test_report_has_every_model_side_by_side(published):
    cfg, report = published
    assert report["k"] == 10
    assert set(report["models"]) == {"popularity", "als", "final"}
    for name, metrics in report["models"].items():
        assert set(metrics) == METRICS, name
        assert metrics["users"] > 50
        assert 0 <= metrics["ndcg@10"] <= 1
    assert report["models"]["popularity"]["serendipity@10"] == 0.0, "nothing the baseline lists is unexpected"
    assert report["gates"]["passed"] is True
    saved = json.loads((cfg.run_dir("tiny-run") / "report.json").read_text())
    assert saved["models"] == report["models"]


def test_published_lists_are_in_the_online_store_with_reasons(published):
    cfg, report = published
    store = open_store(cfg)
    assert read_manifest(store) == "tiny-run"
    personal = read_list(store, "tiny-run", 5)
    assert 10 <= len(personal.movie_ids) <= cfg.models.final_list_size
    assert len(set(personal.movie_ids)) == len(personal.movie_ids)
    assert all(reason.startswith(("Because you watched ", "Popular")) for reason in personal.reasons)
    fallback = read_list(store, "tiny-run", FALLBACK)
    assert fallback.reasons[0].startswith("Popular")
    assert read_list(store, "tiny-run", 10_000_000) is None
    snapshot = pd.read_parquet(f"{cfg.feast.repo_dir}/data/user_recommendations.parquet")
    assert snapshot["list_key"].str.startswith("tiny-run:").all()
    assert f"tiny-run:{FALLBACK}" in set(snapshot["list_key"])


def test_reasons_name_a_movie_the_user_actually_watched(published, spark):
    from pyspark.sql import functions as F

    from jobs import lake

    cfg, _ = published
    store = open_store(cfg)
    personal = read_list(store, "tiny-run", 5)
    watched = {r["title"] for r in lake.read(spark, cfg.table_path("silver", "interactions")).where(F.col("user_id") == 5)
               .join(lake.read(spark, cfg.table_path("silver", "movies")), "movie_id").collect()}
    named = [r.removeprefix("Because you watched ") for r in personal.reasons if r.startswith("Because you watched ")]
    assert named and set(named) <= watched


def test_no_recommended_movie_was_already_seen(published, spark):
    from pyspark.sql import functions as F

    from jobs import lake

    cfg, _ = published
    seen = {r["movie_id"] for r in lake.read(spark, cfg.table_path("silver", "interactions")).where(F.col("user_id") == 7).collect()}
    personal = read_list(open_store(cfg), "tiny-run", 7)
    assert not seen & set(personal.movie_ids)


def test_mlflow_has_one_run_with_metrics_and_published_version(published):
    import mlflow

    cfg, report = published
    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    run = mlflow.get_run(report["mlflow_run_id"])
    assert run.data.tags["published_version"] == "tiny-run"
    assert run.data.metrics["final.ndcg_at_10"] == pytest.approx(report["models"]["final"]["ndcg@10"])
    assert run.data.params["generators"] == "popularity,als"
    artifacts = mlflow.artifacts.download_artifacts(run_id=report["mlflow_run_id"], artifact_path="evaluation_report.json")
    assert json.loads(open(artifacts).read())["gates"]["passed"] is True
    assert cfg.workdir in run.info.artifact_uri, "artifacts stay inside the workdir"


def test_a_gated_out_run_does_not_publish_and_the_last_good_version_keeps_serving(published, spark):
    cfg, _ = published
    strict = tiny_config(cfg.workdir, gates={"min": {"ndcg@10": 0.99}})
    report = run_pipeline(strict, spark, run_id="strict-run")
    assert report["gates"]["passed"] is False
    assert report["published_version"] is None
    failed = [c["gate"] for c in report["gates"]["checks"] if not c["passed"]]
    assert failed == ["final ndcg@10 >= 0.99"]
    store = open_store(cfg)
    assert read_manifest(store) == "tiny-run"
    assert read_list(store, "tiny-run", 5) is not None
