"""TMDB API v3 client: changed movie ids for a date range, then each movie's details with credits and
keywords, written as JSON lines that the ingest step reads like any other TMDB-shaped file.

The key comes from the environment (TMDB_API_KEY, a v3 key, or TMDB_ACCESS_TOKEN, a v4 read token),
read by `client_from_env` at the edge. Requests that get 429 or a 5xx are retried with exponential
backoff; a Retry-After header, in seconds or as an HTTP date, is honoured instead when present.
A movie TMDB no longer has (404) is written as a tombstone, `{"id": ..., "deleted": true}`, so the
ingest step can retire it. Every document is stamped `updated_at` with the fetch time: the version
that decides which of two copies of a movie is the latest.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, UTC
from email.utils import parsedate_to_datetime
from pathlib import Path

from jobs.errors import PipelineError

BASE_URL = "https://api.themoviedb.org/3"
RETRYABLE = {429, 500, 502, 503, 504}
MAX_DAYS_PER_CALL = 14  # /movie/changes accepts at most 14 days


class TmdbError(PipelineError):
    """TMDB refused or kept failing; the message says which request and why."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def urllib_transport(url: str, headers: dict[str, str], timeout: float) -> Response:
    """One GET over the network; HTTP errors come back as responses, not exceptions."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Response(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()}, exc.read() or b"")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds to wait: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class TmdbClient:
    api_key: str | None = None          # v3 key, sent as ?api_key=
    access_token: str | None = None     # v4 read access token, sent as a Bearer header
    base_url: str = BASE_URL
    max_attempts: int = 6
    backoff_seconds: float = 0.5        # first wait; doubles each attempt, with jitter
    max_backoff_seconds: float = 30.0
    timeout_seconds: float = 10.0
    transport: Callable[[str, dict[str, str], float], Response] = urllib_transport
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def __post_init__(self) -> None:
        if not (self.api_key or self.access_token):
            raise TmdbError("no TMDB credentials: set TMDB_API_KEY (v3 key) or TMDB_ACCESS_TOKEN (v4 read token)")

    def get(self, path: str, **params) -> dict | None:
        """The JSON body of GET `path`; None for a 404. Retries 429/5xx and network errors."""
        query = {k: v for k, v in params.items() if v is not None}
        headers = {"Accept": "application/json"}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        else:
            query["api_key"] = self.api_key
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(query)}"
        shown = f"GET {path}" + (f"?{urllib.parse.urlencode({k: v for k, v in query.items() if k != 'api_key'})}"
                                 if len(query) > ("api_key" in query) else "")
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.transport(url, headers, self.timeout_seconds)
            except OSError as exc:  # connection refused, reset, timeout
                response, problem = None, f"{type(exc).__name__}: {exc}"
            else:
                if response.status == 200:
                    return json.loads(response.body)
                if response.status == 404:
                    return None
                if response.status == 401:
                    raise TmdbError(f"{shown}: 401 unauthorised: check the TMDB key")
                if response.status not in RETRYABLE:
                    raise TmdbError(f"{shown}: HTTP {response.status}: {response.body[:200]!r}")
                problem = f"HTTP {response.status}"
            if attempt == self.max_attempts:
                raise TmdbError(f"{shown}: gave up after {attempt} attempts ({problem})")
            wait = retry_after_seconds(response.headers.get("retry-after")) if response else None
            if wait is None:
                wait = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1)) * (0.5 + self.rng.random() / 2)
            self.sleep(min(wait, self.max_backoff_seconds * 4))
        raise AssertionError("unreachable")

    def changed_movie_ids(self, start: date, end: date) -> Iterator[dict]:
        """`/movie/changes` for [start, end], days included, in calls of at most 14 days, every page:
        yields {"id", "adult"} per changed movie."""
        while start <= end:
            chunk_end = min(end, start + timedelta(days=MAX_DAYS_PER_CALL - 1))
            page, total = 1, 1
            while page <= total:
                body = self.get("/movie/changes", start_date=start.isoformat(), end_date=chunk_end.isoformat(),
                                page=page) or {}
                total = int(body.get("total_pages") or 0)
                yield from body.get("results", [])
                page += 1
            start = chunk_end + timedelta(days=1)

    def movie(self, movie_id: int) -> dict:
        """`/movie/{id}` with credits and keywords, or a tombstone when TMDB no longer has it."""
        doc = self.get(f"/movie/{movie_id}", append_to_response="credits,keywords")
        return doc if doc is not None else {"id": movie_id, "deleted": True}


def client_from_env(base_url: str = BASE_URL, environ: dict[str, str] | None = None) -> TmdbClient:
    environ = os.environ if environ is None else environ
    return TmdbClient(api_key=environ.get("TMDB_API_KEY"), access_token=environ.get("TMDB_ACCESS_TOKEN"), base_url=base_url)


def write_changes(client: TmdbClient, start: date, end: date, out: Path, include_adult: bool = False,
                  now: datetime | None = None) -> dict[str, int]:
    """Details of every movie changed in [start, end] (days included) as JSON lines at `out`; returns counts.

    Adult titles are skipped unless `include_adult` (TMDB flags them in the change list)."""
    stamp = (now or datetime.now(UTC)).isoformat()
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = {"changed": 0, "written": 0, "deleted": 0, "skipped_adult": 0}
    seen: set[int] = set()
    with open(out, "w", encoding="utf-8") as fh:
        for change in client.changed_movie_ids(start, end):
            movie_id = int(change["id"])
            if movie_id in seen:
                continue
            seen.add(movie_id)
            counts["changed"] += 1
            if change.get("adult") and not include_adult:
                counts["skipped_adult"] += 1
                continue
            doc = {**client.movie(movie_id), "updated_at": stamp}
            counts["deleted" if doc.get("deleted") else "written"] += 1
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return counts
