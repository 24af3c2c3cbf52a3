"""The exposure log: buffered off the request path, day-partitioned, flushed on shutdown, never failing a request."""

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.exposures import ExposureLog, FileSink
from serving.metrics import Metrics
from serving.variants import assign


def _records(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob("dt=*/*.jsonl")) for line in path.read_text().splitlines()]


def _record(log: ExposureLog, user: int) -> None:
    log.record(user, "exp", "control", "control", "v1", "home", [10, 11, 12], False, False)


class BrokenSink:
    def write(self, day, lines):
        raise OSError("disk full")


def test_records_are_written_by_day_with_unique_ids(tmp_path):
    log = ExposureLog(FileSink(tmp_path, "w1"), Metrics())
    for user in range(3):
        _record(log, user)
    assert not list(tmp_path.iterdir()), "nothing is written on the request path"
    assert log.flush() == 3
    records = _records(tmp_path)
    assert [r["user_id"] for r in records] == [0, 1, 2]
    assert len({r["exposure_id"] for r in records}) == 3
    day = records[0]["served_at"][:10]
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("dt=*/*")] == [f"dt={day}/exposures-w1.jsonl"]
    assert records[0]["movie_ids"] == [10, 11, 12] and records[0]["variant"] == "control"


def test_a_failing_sink_keeps_the_records_counts_them_and_drops_only_past_the_bound(tmp_path):
    metrics = Metrics()
    log = ExposureLog(BrokenSink(), metrics, max_buffer=5)
    for user in range(4):
        _record(log, user)
    assert log.flush() == 0
    for user in range(4, 7):
        _record(log, user)                                  # 5 held: 5 and 6 find the buffer full
    assert log.flush() == 0
    text = metrics.exposition().decode()
    assert 'movierec_exposure_errors_total{kind="sink"} 2.0' in text       # two failed flushes
    assert 'movierec_exposure_errors_total{kind="dropped"} 2.0' in text
    log.sink = FileSink(tmp_path, "w1")
    assert log.flush() == 5
    assert [r["user_id"] for r in _records(tmp_path)] == [0, 1, 2, 3, 4]
    log.sink = BrokenSink()
    for user in range(7):                                   # a sink that hangs: record() itself stays bounded
        _record(log, user)
    assert len(log._buffer) == 5 and 'kind="dropped"} 4.0' in metrics.exposition().decode()


def test_running_flushes_on_exit(tmp_path):
    log = ExposureLog(FileSink(tmp_path, "w1"), Metrics(), flush_seconds=3600)
    with log.running():
        _record(log, 1)
    assert [r["user_id"] for r in _records(tmp_path)] == [1]


@pytest.mark.spark
def test_the_api_logs_what_it_served_as_assigned(published, tmp_path):
    cfg, _ = published
    logged = cfg.model_copy(update={"serving": cfg.serving.model_copy(update={"exposure_log": str(tmp_path)})})
    with TestClient(create_app(logged)) as client:
        assigned = client.get("/v1/users/5/recommendations", params={"k": 4}).json()
        other = "slots" if assigned["variant"] == "control" else "control"
        forced = client.get("/v1/users/5/recommendations", params={"k": 3, "variant": other, "context": "email"}).json()
        unknown = client.get("/v1/users/987654321/recommendations", params={"k": 2}).json()
        client.get("/v1/movies/1001")                     # not a list a user was shown as recommendations
    records = _records(tmp_path)
    assert [r["movie_ids"] for r in records] == [[i["movie_id"] for i in body["items"]] for body in (assigned, forced, unknown)]
    assert [r["served_variant"] for r in records] == [assigned["variant"], other, unknown["variant"]]
    assert records[1]["variant"] == assign("rerank-strategy", 5, ["control", "slots"], [0.5, 0.5]), "analysed as assigned"
    assert [r["fallback"] for r in records] == [False, False, True]
    assert records[1]["context"] == "email" and {r["version"] for r in records} == {"tiny-run"}


def test_forgetting_a_user_drops_their_lines_from_the_log(tmp_path):
    from jobs.erasure import forget_in_exposure_log

    log = ExposureLog(FileSink(tmp_path, "w1"), Metrics())
    for user in (1, 2, 1, 3):
        _record(log, user)
    log.flush()
    (next(tmp_path.glob("dt=*")) / "exposures-w1.jsonl").open("a").write("{broken\n")
    assert forget_in_exposure_log(str(tmp_path), [1, 3, 9]) == {1: 2, 3: 1, 9: 0}
    assert [r["user_id"] for r in _records_and_broken(tmp_path) if isinstance(r, dict)] == [2]
    assert "{broken" in _records_and_broken(tmp_path), "what is not JSON stays for ingest to quarantine"
    assert forget_in_exposure_log(None, [1]) == {1: 0}


def _records_and_broken(folder: Path) -> list:
    out = []
    for line in next(folder.glob("dt=*/*.jsonl")).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append(line)
    return out
