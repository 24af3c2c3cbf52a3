"""Batch contracts: the Great Expectations suites, and what a failing batch does to an ingest."""

import json
from datetime import date, datetime

import pytest
from pyspark.sql import functions as F

from data_contracts import suites
from data_contracts.schema import MOVIE_SCHEMA
from jobs import lake
from jobs.errors import ContractViolation
from jobs.ingest import Interval, ingest
from tests.conftest import tiny_config

pytestmark = pytest.mark.spark


def _movies(spark, rows):
    return spark.createDataFrame(rows, MOVIE_SCHEMA)


def _movie(movie_id, title="A title", runtime=100.0, vote=7.0):
    return (movie_id, None, title, 2001, ["Drama"], "", [], [], None, runtime, vote, 10, 1.0, None, False, None,
            False, datetime(2026, 1, 1))


def test_a_clean_batch_passes_and_each_failure_is_named(spark):
    clean = suites.validate(_movies(spark, [_movie(1), _movie(2)]), "movies", MOVIE_SCHEMA, min_rows=1)
    assert clean.success and clean.failed == []
    assert clean.result["statistics"]["evaluated_expectations"] >= 6
    bad = suites.validate(_movies(spark, [_movie(1), _movie(1, runtime=9000.0), _movie(3, vote=11.0)]), "movies",
                          MOVIE_SCHEMA, min_rows=5)
    assert not bad.success
    assert {f.split(":")[0] for f in bad.failed} == {
        "expect_table_row_count_to_be_between(table)", "expect_column_values_to_be_unique(movie_id)",
        "expect_column_values_to_be_between(runtime)", "expect_column_values_to_be_between(vote_average)"}


def test_schema_drift_is_caught_before_any_expectation_runs(spark):
    frame = _movies(spark, [_movie(1)]).drop("title").withColumn("year", F.col("year").cast("string"))
    verdict = suites.validate(frame, "movies", MOVIE_SCHEMA, min_rows=1)
    assert not verdict.success
    assert verdict.failed == ["schema: missing column title (string)", "schema: column year is string, not int"]


def _ratings(folder, lines):
    folder.mkdir(exist_ok=True)
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Alpha (1990),Drama\n2,Beta (2001),Comedy\n")
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "".join(f"{line}\n" for line in lines))


def test_a_volume_collapse_stops_the_ingest_and_leaves_silver_as_it_was(spark, tmp_path):
    folder = tmp_path / "ml"
    _ratings(folder, [f"{u},{1 + u % 2},4.0,{964982703 + u}" for u in range(1, 41)])
    cfg = tiny_config(tmp_path / "wd", source={"kind": "movielens", "data_dir": str(folder)})
    first = ingest(cfg, spark)
    assert first["tables"]["interactions"]["landed"] == 40
    saved = json.loads(open(first["tables"]["interactions"]["contract"]).read())
    assert saved["success"] is True and saved["table"] == "interactions"
    version = lake.version(spark, cfg.table_path("silver", "interactions"))

    _ratings(folder, ["1,1,4.0,964990000", "2,2,3.0,964990001"])  # a feed that suddenly has 2 rows
    with pytest.raises(ContractViolation, match=r"interactions: batch .* breaks its contract: "
                                                r"expect_table_row_count_to_be_between\(table\): observed 2"):
        ingest(cfg, spark)
    assert lake.version(spark, cfg.table_path("silver", "interactions")) == version, "silver untouched"
    assert lake.read(spark, cfg.table_path("silver", "interactions")).count() == 40


def test_a_feed_of_mostly_bad_rows_stops_before_silver_and_keeps_the_rows(spark, tmp_path):
    folder = tmp_path / "ml"
    _ratings(folder, ["1,1,4.0,964982703"] + [f"{u};1;4.0;964982703" for u in range(2, 12)])  # the separator changed
    cfg = tiny_config(tmp_path / "wd", source={"kind": "movielens", "data_dir": str(folder)})
    with pytest.raises(ContractViolation, match=r"10 of 11 rows .* failed the row rules \(unparseable_row 10\)"):
        ingest(cfg, spark)
    quarantine = lake.read(spark, cfg.table_path("quarantine", "rows")).where(F.col("table_name") == "interactions")
    assert quarantine.count() == 10, "the bad rows are kept, with their reason"
    assert not lake.exists(spark, cfg.table_path("silver", "interactions"))


def _day_log(root, day, timestamps):
    folder = root / f"dt={day}"
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_text("".join(json.dumps(
        {"event_id": f"{day}-{n}", "user_id": n, "movie_id": 1, "event_type": "watch", "ts": ts}) + "\n"
        for n, ts in enumerate(timestamps)))


def test_a_days_log_holding_only_old_events_is_a_stale_feed(spark, tmp_path):
    (tmp_path / "movies.jsonl").write_text(json.dumps({"id": 1, "title": "Alpha"}) + "\n")
    cfg = tiny_config(tmp_path / "wd", source={"kind": "files", "events_dir": str(tmp_path / "events"),
                                               "movies_path": str(tmp_path / "movies.jsonl")})
    # A late event two days old is fine next to today's events ...
    _day_log(tmp_path / "events", "2026-03-10", ["2026-03-10T09:00:00Z", "2026-03-08T23:00:00Z"])
    assert ingest(cfg, spark, Interval(date(2026, 3, 10), date(2026, 3, 11)))["tables"]["interactions"]["landed"] == 2
    version = lake.version(spark, cfg.table_path("silver", "interactions"))
    # ... but a day whose newest event is a month old is last month's file sent again.
    _day_log(tmp_path / "events", "2026-03-11", ["2026-02-09T10:00:00Z", "2026-02-10T10:00:00Z"])
    with pytest.raises(ContractViolation, match=r"expect_column_max_to_be_between\(ts\): observed 2026-02-10"):
        ingest(cfg, spark, Interval(date(2026, 3, 11), date(2026, 3, 12)))
    assert lake.version(spark, cfg.table_path("silver", "interactions")) == version, "silver untouched"


def test_broken_gold_features_stop_the_step_before_any_table_is_written(spark, tmp_path, monkeypatch):
    from jobs import feature_tables
    from jobs.features import build_features

    cfg = tiny_config(tmp_path)
    ingest(cfg, spark)
    build_features(cfg, spark, "good-run")
    versions = {name: lake.version(spark, cfg.table_path("gold", name)) for name in ("user_features", "movie_features")}

    real = feature_tables.user_features
    # A bug upstream: every row twice, and a negative count.
    monkeypatch.setattr(feature_tables, "user_features", lambda *args: (lambda f: f.unionByName(
        f.limit(3)).withColumn("events_7d", F.when(F.col("user_id") == 1, -1).otherwise(F.col("events_7d"))))(real(*args)))
    with pytest.raises(ContractViolation, match=r"gold.user_features: .*expect_compound_columns_to_be_unique.*"
                                                r"expect_column_values_to_be_between\(events_7d\)"):
        build_features(cfg, spark, "bad-run")
    assert {name: lake.version(spark, cfg.table_path("gold", name)) for name in versions} == versions
    saved = json.loads((cfg.run_dir("bad-run") / "validations" / "user_features.json").read_text())
    assert saved["success"] is False
