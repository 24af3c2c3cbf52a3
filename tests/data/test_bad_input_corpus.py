"""A corpus of bad input through the real ingest: every good row lands, every bad row is quarantined
with its rule, and read = landed + duplicates + quarantined exactly."""

import json

import pandas as pd
import pytest
from pyspark.sql import functions as F

from jobs import lake
from jobs.ingest import ingest
from tests.conftest import tiny_config

pytestmark = pytest.mark.spark

TS = "2026-03-01T10:00:00Z"


def event(n, **overrides):
    row = {"event_id": f"e{n}", "user_id": 1 + n % 4, "movie_id": 1 + n % 3, "event_type": "watch", "value": None,
           "watch_seconds": 600.0, "device": "tv", "ts": TS}
    return {**row, **overrides}


def movie(movie_id, title, **overrides):
    return {"id": movie_id, "title": title, "release_date": "2001-04-25", "runtime": 120,
            "genres": [{"id": 18, "name": "Drama"}], "vote_average": 7.5, **overrides}


@pytest.fixture
def corpus(tmp_path):
    events = tmp_path / "events"
    events.mkdir()
    good = [json.dumps(event(n)) for n in range(12)]
    (events / "a.jsonl").write_text("\n".join([
        *good,
        good[0],                                                     # duplicate event id: collapses
        '{"event_id": "e100", "user_id": 1, "movie_id": ',           # malformed JSON
        json.dumps(event(101, user_id="abc")),                       # wrong type
        json.dumps(event(102, watch_seconds=-5)),                    # negative
        json.dumps(event(103, watch_seconds=1e12)),                  # huge
        json.dumps(event(104, event_type="purchase")),               # not an event type
        json.dumps(event(105, event_id=None)),                       # missing key
        json.dumps(event(106, ts="2099-01-01T00:00:00Z")),           # in the future
        json.dumps(event(107, event_type="rating", value=9)),        # rating out of range
    ]) + "\n")
    (events / "b.csv").write_text(
        "event_id,user_id,movie_id,event_type,value,watch_seconds,device,ts\n"
        f"c1,2,1,rating,4.5,,web,{TS}\n"
        f"c2,3,2,click,,,ios,{TS}\n"
        "c3,3\n")                                                    # truncated row: missing columns
    (events / "c.csv").write_text(f"event_id,movie_id,event_type,ts\nm1,1,view,{TS}\n")  # no user_id column
    pd.DataFrame([{"event_id": "p1", "user_id": 4, "movie_id": 3, "event_type": "view", "ts": pd.Timestamp(TS)},
                  {"event_id": "p2", "user_id": 4, "movie_id": -5, "event_type": "view", "ts": pd.Timestamp(TS)}]
                 ).to_parquet(events / "d.parquet", coerce_timestamps="us")  # Spark reads no nanosecond timestamps
    (events / "empty.jsonl").write_text("")
    (events / "truncated.jsonl").write_text(json.dumps(event(200)) + "\n" + json.dumps(event(201))[:40])

    movies = tmp_path / "movies.jsonl"
    movies.write_text("\n".join([
        json.dumps(movie(1, "Amélie"), ensure_ascii=False),
        json.dumps(movie(2, "千と千尋の神隠し"), ensure_ascii=False),
        json.dumps(movie(3, "Ёжик в тумане"), ensure_ascii=False),
        json.dumps(movie(3, "Ёжик в тумане"), ensure_ascii=False),    # duplicate
        json.dumps(movie(4, "")),                                       # no title
        json.dumps(movie(5, "Long", runtime=100000)),                   # runtime out of range
        json.dumps(movie(6, "Short", runtime=-1)),                      # negative runtime
        "{not json",
    ]) + "\n", encoding="utf-8")
    return events, movies


def test_every_good_row_lands_and_every_bad_row_is_quarantined_with_its_rule(spark, corpus, tmp_path):
    events, movies = corpus
    cfg = tiny_config(tmp_path / "wd", source={"kind": "files", "events_dir": str(events), "movies_path": str(movies)})
    report = ingest(cfg, spark)["tables"]

    interactions = report["interactions"]
    assert interactions["by_rule"] == {
        "unparseable_row": 2, "invalid_user_id": 2, "negative_watch_seconds": 1, "watch_seconds_too_large": 1,
        "unknown_event_type": 1, "missing_event_id": 1, "ts_in_future": 1, "rating_out_of_range": 1,
        "invalid_movie_id": 2}
    assert interactions["read"] == 21 + 3 + 1 + 2 + 2, "CSV headers are not rows; the empty file has none"
    assert interactions["landed"] == 12 + 2 + 1 + 1 and interactions["duplicates"] == 1
    assert interactions["read"] == interactions["landed"] + interactions["duplicates"] + interactions["quarantined"]

    silver = lake.read(spark, cfg.table_path("silver", "interactions"))
    assert sorted(r["event_id"] for r in silver.collect()) == sorted([f"e{n}" for n in range(12)] + ["c1", "c2", "p1", "e200"])
    quarantine = lake.read(spark, cfg.table_path("quarantine", "rows"))
    bad_events = quarantine.where(F.col("table_name") == "interactions")
    assert bad_events.count() == interactions["quarantined"]
    reasons = {r["reason"] for r in bad_events.collect()}
    assert reasons == set(interactions["by_rule"])
    assert bad_events.where(F.col("payload").contains('"user_id": "abc"')).first()["reason"] == "invalid_user_id"
    assert bad_events.where(F.col("source_file").endswith("truncated.jsonl")).first()["reason"] == "unparseable_row"

    films = report["movies"]
    assert films["by_rule"] == {"missing_title": 1, "runtime_too_long": 1, "negative_runtime": 1, "unparseable_row": 1}
    assert films["landed"] == 3 and films["duplicates"] == 1
    assert films["read"] == films["landed"] + films["duplicates"] + films["quarantined"]
    titles = {r["title"] for r in lake.read(spark, cfg.table_path("silver", "movies")).collect()}
    assert titles == {"Amélie", "千と千尋の神隠し", "Ёжик в тумане"}, "unicode titles arrive intact"
