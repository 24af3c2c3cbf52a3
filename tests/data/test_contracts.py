"""Batch contracts: the Great Expectations suites, and what a failing batch does to an ingest."""

import json

import pytest
from pyspark.sql import functions as F

from data_contracts import suites
from data_contracts.schema import MOVIE_SCHEMA
from jobs import lake
from jobs.ingest import ContractViolation, ingest
from tests.conftest import tiny_config

pytestmark = pytest.mark.spark


def _movies(spark, rows):
    return spark.createDataFrame(rows, MOVIE_SCHEMA)


def _movie(movie_id, title="A title", runtime=100.0, vote=7.0):
    return (movie_id, None, title, 2001, ["Drama"], "", [], [], None, runtime, vote, 10, 1.0, None, False, None)


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
