"""The TMDB client against recorded-shape responses: paging, details, tombstones, retries and Retry-After."""

import json
from datetime import date, datetime, UTC
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from jobs.sources.tmdb import Response, TmdbClient, TmdbError, retry_after_seconds, write_changes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tmdb"


class Replay:
    """A transport that answers from a script of (path, status, headers, fixture) and records the calls."""

    def __init__(self, script: list[tuple[str, int, dict, str]]) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, dict, dict]] = []

    def __call__(self, url: str, headers: dict, timeout: float) -> Response:
        parsed = urlparse(url)
        self.calls.append((parsed.path, parse_qs(parsed.query), headers))
        path, status, response_headers, fixture = self.script.pop(0)
        assert parsed.path.endswith(path), f"expected a request for {path}, got {parsed.path}"
        return Response(status, response_headers, (FIXTURES / fixture).read_bytes())


def client(script, **kwargs) -> tuple[TmdbClient, Replay, list[float]]:
    replay, waits = Replay(script), []
    return TmdbClient(api_key="k3y", transport=replay, sleep=waits.append, **kwargs), replay, waits


def test_changes_are_paged_details_fetched_and_missing_movies_become_tombstones(tmp_path):
    tmdb, replay, waits = client([
        ("/movie/changes", 200, {}, "changes_page_1.json"),
        ("/movie/550", 200, {}, "movie_550.json"),
        ("/movie/680", 200, {}, "movie_680.json"),
        ("/movie/changes", 200, {}, "changes_page_2.json"),
        ("/movie/99999991", 404, {}, "not_found.json"),
    ])
    fetched = datetime(2026, 11, 12, 3, 0, tzinfo=UTC)
    counts = write_changes(tmdb, date(2026, 11, 10), date(2026, 11, 11), tmp_path / "movies.jsonl", now=fetched)
    assert counts == {"changed": 4, "written": 2, "deleted": 1, "skipped_adult": 1}, "550 twice counts once; 31337 is adult"
    docs = [json.loads(line) for line in (tmp_path / "movies.jsonl").read_text().splitlines()]
    assert [d["id"] for d in docs] == [550, 680, 99999991]
    assert docs[0]["title"] == "Fight Club" and docs[0]["credits"]["crew"][0]["job"] == "Director"
    assert docs[2] == {"id": 99999991, "deleted": True, "updated_at": fetched.isoformat()}
    path, query, headers = replay.calls[0]
    assert query == {"start_date": ["2026-11-10"], "end_date": ["2026-11-11"], "page": ["1"], "api_key": ["k3y"]}
    assert replay.calls[1][1]["append_to_response"] == ["credits,keywords"]
    assert replay.calls[3][1]["page"] == ["2"]
    assert waits == [] and replay.script == []


def test_429_waits_as_long_as_retry_after_says():
    tmdb, replay, waits = client([
        ("/movie/550", 429, {"retry-after": "3"}, "rate_limited.json"),
        ("/movie/550", 429, {"retry-after": "1"}, "rate_limited.json"),
        ("/movie/550", 200, {}, "movie_550.json"),
    ])
    assert tmdb.movie(550)["title"] == "Fight Club"
    assert waits == [3.0, 1.0]


def test_5xx_backs_off_exponentially_then_gives_up_with_a_clear_error():
    tmdb, replay, waits = client([("/movie/550", 503, {}, "rate_limited.json")] * 4, max_attempts=4, backoff_seconds=1.0)
    with pytest.raises(TmdbError, match=r"GET /movie/550\?append_to_response=credits%2Ckeywords: gave up after 4 attempts \(HTTP 503\)") as info:
        tmdb.movie(550)
    assert "k3y" not in str(info.value), "the key never reaches a message"
    assert len(waits) == 3
    for attempt, wait in enumerate(waits):
        assert 2**attempt * 0.5 <= wait <= 2**attempt, "doubling, with up to half taken off as jitter"


def test_network_errors_are_retried():
    calls = []

    def flaky(url, headers, timeout):
        calls.append(url)
        if len(calls) == 1:
            raise ConnectionResetError("reset by peer")
        return Response(200, {}, (FIXTURES / "movie_680.json").read_bytes())

    tmdb = TmdbClient(api_key="k", transport=flaky, sleep=lambda s: None)
    assert tmdb.movie(680)["title"] == "Pulp Fiction" and len(calls) == 2


def test_a_bad_key_fails_at_once_without_leaking_it():
    tmdb, replay, waits = client([("/movie/550", 401, {}, "not_found.json")])
    with pytest.raises(TmdbError, match="401 unauthorised") as info:
        tmdb.movie(550)
    assert "k3y" not in str(info.value) and waits == []


def test_a_v4_token_goes_in_the_authorization_header():
    replay = Replay([("/movie/680", 200, {}, "movie_680.json")])
    TmdbClient(access_token="t0ken", transport=replay, sleep=lambda s: None).movie(680)
    _, query, headers = replay.calls[0]
    assert headers["Authorization"] == "Bearer t0ken" and "api_key" not in query


def test_no_credentials_is_a_clear_error():
    with pytest.raises(TmdbError, match="TMDB_API_KEY"):
        TmdbClient()


def test_retry_after_accepts_seconds_and_http_dates():
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Wed, 25 Nov 2026 12:00:05 GMT", now) == 5.0
    assert retry_after_seconds("Wed, 25 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None


class FakeTmdb:
    """A transport answering /movie/changes and /movie/{id} from dicts (a missing id is a 404)."""

    def __init__(self, changes: list[dict], movies: dict[int, dict]) -> None:
        self.changes, self.movies, self.calls = changes, movies, []

    def __call__(self, url: str, headers: dict, timeout: float) -> Response:
        parsed = urlparse(url)
        self.calls.append((parsed.path, parse_qs(parsed.query)))
        if parsed.path.endswith("/movie/changes"):
            body = {"results": self.changes, "page": 1, "total_pages": 1}
        else:
            body = self.movies.get(int(parsed.path.rsplit("/", 1)[1]))
            if body is None:
                return Response(404, {}, (FIXTURES / "not_found.json").read_bytes())
        return Response(200, {}, json.dumps(body).encode())


def _files_source(tmp_path, movies: list[dict], events: list[tuple[str, int]], day: str = "2026-11-10"):
    (tmp_path / "movies.jsonl").write_text("".join(json.dumps(m) + "\n" for m in movies))
    folder = tmp_path / "events" / f"dt={day}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events.jsonl").write_text("".join(json.dumps(
        {"event_id": e, "user_id": 1, "movie_id": m, "event_type": "watch", "ts": f"{day}T10:00:00Z"}) + "\n" for e, m in events))
    return {"kind": "files", "events_dir": str(tmp_path / "events"), "movies_path": str(tmp_path / "movies.jsonl")}


def _silver_movies(spark, cfg) -> dict[int, dict]:
    from jobs import lake

    return {r["movie_id"]: r.asDict() for r in lake.read(spark, cfg.table_path("silver", "movies")).collect()}


@pytest.mark.spark
def test_daily_ingest_applies_tmdb_changes_since_its_watermark(spark, tmp_path):
    from jobs.features import pin_inputs
    from jobs.ingest import Interval, ingest, tmdb_watermark
    from jobs.train import load_inputs
    from tests.conftest import tiny_config

    source = _files_source(tmp_path, [{"id": 550, "title": "Old title"}, {"id": 603, "title": "The Matrix"}],
                           [("a", 550), ("b", 603)])
    cfg = tiny_config(tmp_path / "wd", source={**source, "tmdb_changes": True})
    fight_club = json.loads((FIXTURES / "movie_550.json").read_text())
    fake = FakeTmdb([{"id": 550, "adult": False}, {"id": 603, "adult": False}, {"id": 31337, "adult": True}],
                    {550: fight_club})
    client = TmdbClient(api_key="k3y", transport=fake, sleep=lambda s: None)

    report = ingest(cfg, spark, Interval(date(2026, 11, 10), date(2026, 11, 11)), tmdb_client=client)
    assert report["tmdb"]["fetched"] == {"changed": 3, "written": 1, "deleted": 1, "skipped_adult": 1}
    assert fake.calls[0][1]["start_date"] == ["2026-11-10"] and fake.calls[0][1]["end_date"] == ["2026-11-10"]
    movies = _silver_movies(spark, cfg)
    assert movies[550]["title"] == "Fight Club" and movies[550]["tmdb_id"] == 550 and movies[550]["director"]
    assert movies[603]["deleted"] is True and movies[603]["title"] == "The Matrix", "a tombstone retires, keeps the row"
    assert 31337 not in movies, "adult titles stay out unless source.tmdb_include_adult"
    assert tmdb_watermark(cfg, spark) == date(2026, 11, 11)

    # The next day fetches from the watermark on; a re-run of an old day fetches nothing again.
    ingest(cfg, spark, Interval(date(2026, 11, 10), date(2026, 11, 11)), tmdb_client=client)
    assert len([c for c in fake.calls if c[0].endswith("/movie/changes")]) == 1

    pin_inputs(cfg, spark, "after-tmdb")
    events, catalog, _ = load_inputs(cfg, spark, "after-tmdb")
    assert 603 not in set(catalog["movie_id"]) and set(events["movie_id"]) == {550}, "a retired movie is never trained on"


@pytest.mark.spark
def test_movies_upsert_by_tmdb_id_latest_version_wins(spark, tmp_path):
    from jobs.ingest import ingest
    from tests.conftest import tiny_config

    cfg = tiny_config(tmp_path / "wd", source=_files_source(tmp_path, [
        {"id": 1, "title": "Newer", "updated_at": "2026-01-02T00:00:00Z"},
        {"id": 1, "title": "Older", "updated_at": "2026-01-01T00:00:00Z"},     # same batch: the later version wins
        {"id": 2, "title": "Two", "updated_at": "2026-01-01T00:00:00Z"}], [("a", 1), ("b", 2)]))
    ingest(cfg, spark)
    assert _silver_movies(spark, cfg)[1]["title"] == "Newer"

    _files_source(tmp_path, [{"id": 1, "title": "Stale copy", "updated_at": "2025-12-31T00:00:00Z"},  # an old replay
                             {"id": 2, "deleted": True, "updated_at": "2026-01-05T00:00:00Z"},
                             {"id": 3, "deleted": True, "updated_at": "2026-01-05T00:00:00Z"}], [("a", 1), ("b", 2)])
    counts = ingest(cfg, spark)["tables"]["movies"]
    movies = _silver_movies(spark, cfg)
    assert movies[1]["title"] == "Newer", "an older version never overwrites a newer one"
    assert movies[2]["deleted"] is True and movies[2]["title"] == "Two"
    assert 3 not in movies, "a tombstone for a movie never seen is not a movie"
    assert counts["quarantined"] == 0 and counts["inserted"] == 1
