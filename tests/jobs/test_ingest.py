"""Ingest on real Spark + Delta: counts add up, re-ingest changes nothing, bad rows are quarantined."""

import json
from datetime import date

import numpy as np
import pytest
from pyspark.sql import functions as F

from jobs import lake
from jobs.ingest import Interval, ingest
from jobs.training_events import read_events
from tests.conftest import SHARED_DATA, silver_fingerprint, tiny_config

pytestmark = pytest.mark.spark


def _write_movielens(folder, ratings_lines):
    folder.mkdir()
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Alpha (1990),Drama\n2,Beta (2001),Comedy|Drama\n3,Gamma (2010),Horror\n")
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\r\n" + "".join(line + "\r\n" for line in ratings_lines))
    return folder


def test_synthetic_ingest_counts_add_up_and_rerun_changes_nothing(spark, tmp_path):
    cfg = tiny_config(tmp_path)
    first = ingest(cfg, spark)
    for table, counts in first["tables"].items():
        assert counts["read"] == counts["landed"] + counts["duplicates"] + counts["quarantined"], table
        assert counts["inserted"] == counts["landed"] > 0
    before = {name: silver_fingerprint(spark, cfg, name) for name in ("interactions", "movies", "users")}
    second = ingest(cfg, spark)
    after = {name: silver_fingerprint(spark, cfg, name) for name in ("interactions", "movies", "users")}
    assert after == before
    assert second["batch_id"] == first["batch_id"]
    assert all(counts["inserted"] == 0 for counts in second["tables"].values())
    bronze = lake.read(spark, cfg.table_path("bronze", "events"))
    assert bronze.count() == first["tables"]["interactions"]["read"], "re-ingesting a batch replaces it in bronze"


def test_bad_rows_go_to_quarantine_with_reasons_and_duplicates_collapse(spark, tmp_path):
    folder = _write_movielens(tmp_path / "ml", [
        "1,1,4.0,964982703",
        "1,2,3.5,964982800",
        "1,2,3.5,964982800",      # exact duplicate: same event id
        "2,3,abc,964982900",      # rating is not a number
        "2,1,7.0,964983000",      # rating out of range
        "3,2",                    # truncated line
        "x,1,4.0,964983100",      # user id is not a number
        "-1,1,4.0,964983100",     # negative user id
        "4,3,5.0,99999999999",    # far in the future
    ])
    # Two in three rows are bad here: lift the batch-level limit to look at the row-level rules alone.
    cfg = tiny_config(tmp_path / "wd", source={"kind": "movielens", "data_dir": str(folder)},
                      contracts={"max_quarantine_share": 1.0})
    counts = ingest(cfg, spark)["tables"]["interactions"]
    assert counts["read"] == 9
    assert counts["landed"] == 2 and counts["duplicates"] == 1 and counts["quarantined"] == 6
    assert counts["by_rule"] == {"rating_out_of_range": 2, "unparseable_row": 1, "invalid_user_id": 2, "ts_in_future": 1}
    quarantine = lake.read(spark, cfg.table_path("quarantine", "rows")).where(F.col("table_name") == "interactions")
    payloads = {r["payload"]: r["reason"] for r in quarantine.collect()}
    assert payloads["2,3,abc,964982900"] == "rating_out_of_range"
    assert payloads["3,2"] == "unparseable_row"
    users = lake.read(spark, cfg.table_path("silver", "users"))
    assert sorted(r["user_id"] for r in users.collect()) == [1], "users come from the events when there is no user file"


def test_movielens_ratings_of_one_second_keep_the_files_order(spark, tmp_path):
    """Half of MovieLens-1M's ratings share their second with another of the user's: the sequential models and
    the leave-one-out test item see them in the file's order, as the published protocol's stable sort does."""
    order = [3, 1, 2]
    folder = _write_movielens(tmp_path / "ml", [f"1,{movie},4.0,964982703" for movie in order] +
                              ["1,1,4.0,964982703", "2,2,5.0,964982000", "2,3,5.0,964982000", "2,1,5.0,964981000"])
    cfg = tiny_config(tmp_path / "wd", source={"kind": "movielens", "data_dir": str(folder)})
    counts = ingest(cfg, spark)["tables"]["interactions"]
    assert counts["landed"] == 6 and counts["duplicates"] == 1, "a line given twice is one rating"
    for engine in ("duckdb", "spark"):
        events = read_events(spark, cfg.table_path("silver", "interactions"), None, np.arange(1, 4), engine)
        by_user = events.groupby("user_id")["movie_id"].apply(list).to_dict()
        assert by_user == {1: order, 2: [1, 2, 3]}, engine


def test_movielens_small_joins_tmdb_metadata(spark, tmp_path):
    data = SHARED_DATA / "movielens-latest-small"
    if not data.exists():
        pytest.skip("shared MovieLens data not present")
    cfg = tiny_config(tmp_path, source={"kind": "movielens", "data_dir": str(data), "tmdb_dir": str(SHARED_DATA / "tmdb-5000")})
    report = ingest(cfg, spark)["tables"]
    assert report["interactions"]["read"] == 100_836 == report["interactions"]["landed"]
    assert report["movies"]["landed"] == 9_742
    movies = lake.read(spark, cfg.table_path("silver", "movies"))
    toy_story = movies.where(F.col("movie_id") == 1).first()
    assert toy_story["tmdb_id"] == 862 and toy_story["title"] == "Toy Story" and toy_story["year"] == 1995
    assert "Woody" in toy_story["overview"] and toy_story["director"] == "John Lasseter"
    with_tmdb = movies.where(F.col("overview").isNotNull()).count()
    assert 3_400 < with_tmdb < 3_600, "about 3,537 MovieLens movies join TMDB 5000 through links.csv"


def test_events_for_unknown_movies_are_held_then_land_when_the_movie_arrives(spark, tmp_path):
    def write_day(day, events, movie_ids):
        folder = tmp_path / "events" / f"dt={day}"
        folder.mkdir(parents=True)
        (folder / "events.jsonl").write_text("".join(json.dumps(
            {"event_id": e, "user_id": 1, "movie_id": m, "event_type": "watch", "ts": f"{day}T10:00:00Z"}) + "\n"
            for e, m in events))
        (tmp_path / "movies.jsonl").write_text("".join(json.dumps({"id": m, "title": f"Movie {m}"}) + "\n" for m in movie_ids))

    cfg = tiny_config(tmp_path / "wd", source={"kind": "files", "events_dir": str(tmp_path / "events"),
                                               "movies_path": str(tmp_path / "movies.jsonl")})
    silver_ids = lambda: sorted(r[0] for r in lake.read(spark, cfg.table_path("silver", "interactions")).select("event_id").collect())
    held_ids = lambda: sorted(r[0] for r in lake.read(spark, cfg.table_path("quarantine", "held_events")).select("event_id").collect())

    write_day("2026-03-01", [("a", 1), ("b", 2), ("c", 3)], [1, 2])
    first = ingest(cfg, spark, Interval(date(2026, 3, 1), date(2026, 3, 2)))["tables"]["interactions"]
    assert (first["read"], first["landed"], first["held"], first["released"]) == (3, 2, 1, 0)
    assert first["read"] == first["landed"] + first["duplicates"] + first["quarantined"] + first["held"]
    assert silver_ids() == ["a", "b"] and held_ids() == ["c"]

    rerun = ingest(cfg, spark, Interval(date(2026, 3, 1), date(2026, 3, 2)))["tables"]["interactions"]
    assert rerun["held"] == 1 and held_ids() == ["c"], "a rerun holds the same event once"

    write_day("2026-03-02", [("d", 1)], [1, 2, 3])
    second = ingest(cfg, spark, Interval(date(2026, 3, 2), date(2026, 3, 3)))["tables"]["interactions"]
    assert (second["landed"], second["held"], second["released"], second["inserted"]) == (1, 0, 1, 2)
    assert silver_ids() == ["a", "b", "c", "d"] and held_ids() == []
    released = lake.read(spark, cfg.table_path("silver", "interactions")).where(F.col("event_id") == "c").first()
    assert str(released["event_date"]) == "2026-03-01", "a released event lands on its own day"
