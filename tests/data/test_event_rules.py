"""Row rules on JSON-lines events (the synthetic and TMDB-style path): each bad row gets the right reason."""

import pytest
from pyspark.sql import functions as F

from data_contracts import rules
from data_contracts import columns as S
from jobs.ingest import parse_events, parse_movies

pytestmark = pytest.mark.spark

GOOD = '{"event_id": "e1", "user_id": 1, "movie_id": 10, "event_type": "watch", "watch_seconds": 600, "ts": "2026-01-02T03:04:05Z"}'
CASES = {
    GOOD: None,
    '{"event_id": "e2", "user_id": "7", "movie_id": "10", "event_type": "RATING", "value": "4.5", "ts": "2026-01-02T03:04:05.5Z"}': None,
    '{"event_id": "e3", "user_id": 1, "movie_id": 10, "event_type": "watch", "ts": "2026-01-0': "unparseable_row",
    '[1, 2, 3]': "unparseable_row",
    '{}': "missing_event_id",
    '{"event_id": "e4", "user_id": "abc", "movie_id": 10, "event_type": "view", "ts": "2026-01-02T00:00:00Z"}': "invalid_user_id",
    '{"event_id": "e5", "user_id": 1, "movie_id": 10, "event_type": "purchase", "ts": "2026-01-02T00:00:00Z"}': "unknown_event_type",
    '{"event_id": "e6", "user_id": 1, "movie_id": 10, "event_type": "view", "ts": "yesterday"}': "invalid_ts",
    '{"event_id": "e7", "user_id": 1, "movie_id": 10, "event_type": "view", "ts": "2999-01-01T00:00:00Z"}': "ts_in_future",
    '{"event_id": "e8", "user_id": 1, "movie_id": 10, "event_type": "rating", "value": 9, "ts": "2026-01-02T00:00:00Z"}': "rating_out_of_range",
    '{"event_id": "e9", "user_id": 1, "movie_id": 10, "event_type": "watch", "watch_seconds": -5, "ts": "2026-01-02T00:00:00Z"}': "negative_watch_seconds",
    '{"event_id": "é10", "user_id": 2, "movie_id": 11, "event_type": "click", "device": "télé", "ts": "2026-01-02T00:00:00Z"}': None,
}


def _bronze(spark, lines):
    """Bronze rows: the line and when it was ingested (a movie's version when its document has none)."""
    return spark.createDataFrame([(line,) for line in lines], f"{S.PAYLOAD} string").withColumn(S.INGESTED_AT, F.current_timestamp())


def test_each_bad_event_gets_its_rule_and_good_ones_pass(spark):
    parsed = parse_events(_bronze(spark, list(CASES)), "jsonl")
    checked = parsed.withColumn(S.REASON, rules.first_failure(rules.event_rules()))
    got = {row[S.PAYLOAD]: row[S.REASON] for row in checked.select(S.PAYLOAD, S.REASON).collect()}
    assert got == CASES


def test_string_typed_fields_are_coerced(spark):
    line = next(iter(k for k, v in CASES.items() if v is None and '"RATING"' in k))
    row = parse_events(_bronze(spark, [line]), "jsonl").first()
    assert (row[S.USER_ID], row[S.MOVIE_ID], row[S.EVENT_TYPE], row[S.VALUE]) == (7, 10, "rating", 4.5)


def test_movie_documents_keep_unicode_titles_and_reject_missing_ones(spark):
    lines = ['{"id": 5, "title": "Amélie", "genres": [{"id": 35, "name": "Comedy"}], "release_date": "2001-04-25"}',
             '{"id": 6, "title": "  "}', '{"id": "x", "title": "Broken id"}']
    checked = parse_movies(_bronze(spark, lines)).withColumn(S.REASON, rules.first_failure(rules.movie_rules()))
    rows = {r["title"]: r for r in checked.collect()}
    assert rows["Amélie"][S.REASON] is None and rows["Amélie"]["year"] == 2001 and rows["Amélie"]["genres"] == ["Comedy"]
    assert rows["  "][S.REASON] == "missing_title"
    assert rows["Broken id"][S.REASON] == "invalid_movie_id"
    assert checked.where(F.col(S.REASON).isNull()).count() == 1
