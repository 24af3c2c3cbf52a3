"""The whole pipeline on tiny synthetic data: report shape, gates, atomic publish, MLflow."""

import json

import pandas as pd
import pytest

from jobs.pipeline import run_pipeline
from serving.store import FALLBACK, OnlineLists, open_store
from tests.conftest import tiny_config

pytestmark = pytest.mark.spark

METRICS = {f"{m}@{k}" for m in ("precision", "recall", "ndcg", "map", "hit_rate", "coverage") for k in (10, 20)} | {
    "serendipity@10", "novelty@10", "diversity@10", "users"}
GENERATORS = ["popularity", "trending", "als", "ease", "content", "two_tower", "time_aware", "sasrec"]
MODELS = [*GENERATORS, "ranker", "final", "final@slots"]


def test_report_has_every_model_side_by_side(published):
    cfg, report = published
    assert report["k"] == 10
    assert list(report["models"]) == MODELS
    for name, metrics in report["models"].items():
        assert METRICS <= set(metrics), name
        assert metrics["users"] > 50
        assert 0 <= metrics["ndcg@10"] <= 1
        assert metrics["recall@20"] >= metrics["recall@10"]
    assert report["models"]["popularity"]["serendipity@10"] == 0.0, "nothing the baseline lists is unexpected"
    assert report["gates"]["passed"] is True
    assert report["new_users"]["full_list"] is True
    best_single_recall = max(report["models"][g]["recall@20"] for g in GENERATORS)
    assert report["candidates"]["recall"] >= best_single_recall, "the merged candidates hold every generator's"
    assert set(report["evaluation_timing"]["fit_seconds"]) == set(GENERATORS)
    importance = report["ranker"]["feature_importance_gain"]
    assert max(importance.values()) > 0 and "time_aware_score" in importance
    for figure in report["figures"]:
        assert open(figure, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((cfg.run_dir("tiny-run") / "report.json").read_text())
    assert saved["models"] == report["models"]
    protocol = report["protocol"]
    assert protocol["evaluated_users"] == protocol["eligible_users"] == report["models"]["final"]["users"], "no sample"
    assert set(saved["intervals"]) == set(MODELS)
    for name, bounds in saved["intervals"].items():
        assert set(bounds) == set(report["models"][name]) - {"users"}, name
        lo, hi = bounds["ndcg@10"]
        assert lo <= report["models"][name]["ndcg@10"] <= hi, name
    paired = next(c for c in report["gates"]["checks"] if c["gate"].startswith("final ndcg@10 >= 0.0 x popularity"))
    assert paired["passed"] and len(paired["interval"]) == 2
    text = (cfg.run_dir("tiny-run") / "report.md").read_text()
    assert "Intervals: 95% percentile bootstrap" in text and "Gates: passed" in text


def test_published_lists_are_in_the_online_store_with_reasons(published):
    cfg, report = published
    lists = OnlineLists(open_store(cfg))
    manifest = lists.manifest()
    assert (manifest.version, manifest.experiment, manifest.variants) == ("tiny-run", "rerank-strategy", ["control", "slots"])
    personal = lists.user_list("tiny-run", "control", 5)
    assert 10 <= len(personal.movie_ids) <= cfg.models.final_list_size
    assert len(set(personal.movie_ids)) == len(personal.movie_ids)
    assert all(reason.startswith(("Because you watched ", "New release like ", "Popular", "Trending"))
               for reason in personal.field("reason"))
    assert personal.field("movie_id") == personal.movie_ids and all(personal.field("title"))
    assert [i["rank"] for i in map(json.loads, personal.items)] == list(range(1, len(personal.movie_ids) + 1))
    for variant in ("control", "slots"):
        fallback = lists.user_list("tiny-run", variant, FALLBACK)
        assert fallback.field("reason")[0].startswith(("Popular", "Trending"))
        assert len(fallback.movie_ids) == cfg.models.final_list_size
    assert lists.user_list("tiny-run", "control", 10_000_000) is None
    snapshot = pd.read_parquet(f"{cfg.feast.repo_dir}/data/user_recommendations.parquet")
    assert snapshot["list_key"].str.startswith("tiny-run:").all()
    assert f"tiny-run:control:{FALLBACK}" in set(snapshot["list_key"])


def test_variants_are_published_side_by_side_and_differ(published):
    cfg, _ = published
    lists = OnlineLists(open_store(cfg))
    control, slots = (lists.user_list("tiny-run", v, 5) for v in ("control", "slots"))
    assert control.movie_ids != slots.movie_ids
    assert set(slots.field("slot")) >= {"similar", "diverse"}, "the slots variant fills its slots"


def test_similar_movies_and_cards_cover_the_catalog(published, spark):
    from jobs import lake

    cfg, _ = published
    lists = OnlineLists(open_store(cfg))
    movies = lake.read(spark, cfg.table_path("silver", "movies")).toPandas().set_index("movie_id")
    movie_id = int(movies.index[0])
    card = lists.card("tiny-run", movie_id)
    assert card.title == movies.loc[movie_id, "title"] and list(card.genres) == list(movies.loc[movie_id, "genres"])
    similar = lists.similar("tiny-run", movie_id)
    assert len(similar.movie_ids) == cfg.serving.similar_k
    assert movie_id not in similar.movie_ids and set(similar.movie_ids) <= set(movies.index)
    assert similar.field("score") == sorted(similar.field("score"), reverse=True)
    assert similar.field("title") == [movies.loc[m, "title"] for m in similar.movie_ids]
    assert all(lists.card("tiny-run", int(m)) is not None for m in movies.index)
    # Neighbours are alike: they share a genre with the movie more often than random pairs do.
    genres = movies["genres"].map(set)
    sample = [int(m) for m in movies.index[:20]]
    neighbours = sum(bool(genres[m] & genres[n]) for m in sample for n in lists.similar("tiny-run", m).movie_ids)
    anyone = sum(bool(genres[m] & genres[n]) for m in sample for n in movies.index if n != m)
    assert neighbours / (20 * cfg.serving.similar_k) > anyone / (20 * (len(movies) - 1))


def test_reasons_name_a_movie_the_user_actually_watched(published, spark):
    from pyspark.sql import functions as F

    from jobs import lake

    cfg, _ = published
    lists = OnlineLists(open_store(cfg))
    personal = lists.user_list("tiny-run", "control", 5)
    watched = {r["title"] for r in lake.read(spark, cfg.table_path("silver", "interactions")).where(F.col("user_id") == 5)
               .join(lake.read(spark, cfg.table_path("silver", "movies")), "movie_id").collect()}
    named = [r.removeprefix("Because you watched ").removeprefix("New release like ") for r in personal.field("reason")
             if r.startswith(("Because you watched ", "New release like "))]
    assert named and set(named) <= watched


def test_no_recommended_movie_was_already_seen(published, spark):
    from pyspark.sql import functions as F

    from jobs import lake

    cfg, _ = published
    seen = {r["movie_id"] for r in lake.read(spark, cfg.table_path("silver", "interactions")).where(F.col("user_id") == 7).collect()}
    personal = OnlineLists(open_store(cfg)).user_list("tiny-run", "control", 7)
    assert not seen & set(personal.movie_ids)


def test_mlflow_has_a_child_run_per_model_and_the_published_ranker_is_champion(published):
    import mlflow

    from jobs.tracking import CHAMPION, RANKER_MODEL

    cfg, report = published
    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    mlflow.set_registry_uri(cfg.mlflow.tracking_uri)   # another test's MLflow calls may have moved either
    run = mlflow.get_run(report["mlflow_run_id"])
    assert run.data.tags["published_version"] == "tiny-run"
    assert run.data.metrics["ndcg_at_10"] == pytest.approx(report["models"]["final"]["ndcg@10"])
    assert run.data.params["generators"] == ",".join(GENERATORS)
    children = mlflow.search_runs(experiment_ids=[run.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    by_name = dict(zip(children["tags.mlflow.runName"], children.index))
    assert set(MODELS) | {"ranker_eval", "ranker_full"} <= set(by_name)
    ease = children.loc[by_name["ease"]]
    assert ease["metrics.ndcg_at_10"] == pytest.approx(report["models"]["ease"]["ndcg@10"])
    assert ease["metrics.fit_seconds"] >= 0
    champion = mlflow.MlflowClient().get_model_version_by_alias(RANKER_MODEL, CHAMPION)
    assert champion.tags["split"] == "full"
    assert str(champion.version) == report["publish"]["champion_ranker_version"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "figures")}
    assert {"figures/metrics_per_model.png", "figures/popularity_bias.png", "figures/coverage_curve.png"} <= artifacts
    artifacts = mlflow.artifacts.download_artifacts(run_id=report["mlflow_run_id"], artifact_path="evaluation_report.json")
    assert json.loads(open(artifacts).read())["gates"]["passed"] is True
    assert cfg.workdir in run.info.artifact_uri, "artifacts stay inside the workdir"


def test_a_gated_out_run_does_not_publish_and_the_last_good_version_keeps_serving(published, spark):
    cfg, _ = published
    # Also evaluated on a sample of the eligible users.
    strict = tiny_config(cfg.workdir, gates={"min": {"ndcg@10": 0.99}}, evaluation={"max_users": 60})
    report = run_pipeline(strict, spark, run_id="strict-run")
    assert report["protocol"]["evaluated_users"] == 60 < report["protocol"]["eligible_users"]
    assert all(metrics["users"] == 60 for metrics in report["models"].values())
    assert report["gates"]["passed"] is False
    assert report["published_version"] is None
    failed = [c["gate"] for c in report["gates"]["checks"] if not c["passed"]]
    assert failed == ["final ndcg@10 >= 0.99", "final@slots ndcg@10 >= 0.99"]
    lists = OnlineLists(open_store(cfg))
    assert lists.manifest().version == "tiny-run"
    assert lists.user_list("tiny-run", "control", 5) is not None
    import mlflow

    from jobs.tracking import CHAMPION, RANKER_MODEL

    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    mlflow.set_registry_uri(cfg.mlflow.tracking_uri)
    champion = mlflow.MlflowClient().get_model_version_by_alias(RANKER_MODEL, CHAMPION)
    assert str(champion.version) == published[1]["publish"]["champion_ranker_version"], "champion moves only on publish"
