"""Ingest by day and backfills: only the interval is read, re-runs change nothing, late events land on
their own day, and a backfill that fails in the middle carries on where it stopped."""

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from jobs import lake
from jobs.backfill import BackfillStopped, backfill
from jobs.ingest import Interval, ingest, ingested_days
from tests.conftest import silver_fingerprint, tiny_config

pytestmark = pytest.mark.spark

MARCH_1, MARCH_2, MARCH_3, MARCH_4 = (date(2026, 3, d) for d in range(1, 5))


def logged_events(cfg, days):
    folder = Path(cfg.workdir) / "landing" / "synthetic" / "events"
    return [row for day in days for part in sorted((folder / f"dt={day}").glob("*.parquet")) for row in pq.read_table(part).to_pylist()]


def test_a_day_reads_only_its_log_and_reruns_change_nothing(spark, tmp_path):
    cfg = tiny_config(tmp_path)
    result = backfill(cfg, spark, MARCH_1, MARCH_2)
    assert [d["day"] for d in result["ingested"]] == ["2026-03-01", "2026-03-02"]
    assert ingested_days(cfg, spark) == {MARCH_1, MARCH_2}
    expected = logged_events(cfg, ["2026-03-01", "2026-03-02"])
    silver = lake.read(spark, cfg.table_path("silver", "interactions"))
    assert sorted(r["event_id"] for r in silver.select("event_id").collect()) == sorted(e["event_id"] for e in expected)

    # Late events (logged days after they happened) land on their own day and month.
    late = [e for e in expected if e["ts"][:10] < "2026-03-01"]
    assert late, "the synthetic log has late arrivals"
    landed = {r["event_id"]: r for r in silver.where(F.col("event_id").isin([e["event_id"] for e in late])).collect()}
    for event in late:
        assert landed[event["event_id"]]["event_date"].isoformat() == event["ts"][:10]
        assert landed[event["event_id"]]["event_month"] == event["ts"][:7]

    before = silver_fingerprint(spark, cfg)
    again = backfill(cfg, spark, MARCH_1, MARCH_2)
    assert again == {"ingested": [], "skipped": ["2026-03-01", "2026-03-02"]}, "done days are skipped"
    backfill(cfg, spark, MARCH_1, MARCH_2, force=True)
    assert silver_fingerprint(spark, cfg) == before, "re-running a range leaves silver identical"
    rerun = ingest(cfg, spark, Interval(MARCH_2, MARCH_3))
    assert rerun["tables"]["interactions"]["inserted"] == 0 and rerun["tables"]["movies"]["unchanged_since"]
    assert silver_fingerprint(spark, cfg) == before, "re-running a day leaves silver identical"


def test_a_failed_day_stops_the_backfill_and_the_next_run_resumes_there(spark, tmp_path):
    cfg = tiny_config(tmp_path)
    ingest(cfg, spark, Interval(MARCH_1, MARCH_2))
    day_log = Path(cfg.workdir) / "landing" / "synthetic" / "events" / "dt=2026-03-02"
    good = {part: part.read_bytes() for part in day_log.glob("*.parquet")}
    for part in good:
        part.unlink()
    broken = day_log / "broken.jsonl"
    broken.write_text("".join('{"event_id": "x' + str(n) + '", "user_id": "not a number"\n' for n in range(50)))

    with pytest.raises(BackfillStopped, match=r"backfill stopped at 2026-03-02: .*run the same command again"):
        backfill(cfg, spark, MARCH_1, MARCH_3)
    assert ingested_days(cfg, spark) == {MARCH_1}

    broken.unlink()  # the feed is fixed
    for part, data in good.items():
        part.write_bytes(data)
    resumed = backfill(cfg, spark, MARCH_1, MARCH_3)
    assert resumed["skipped"] == ["2026-03-01"]
    assert [d["day"] for d in resumed["ingested"]] == ["2026-03-02", "2026-03-03"]
    assert ingested_days(cfg, spark) == {MARCH_1, MARCH_2, MARCH_3}


def test_a_flat_event_file_cannot_be_ingested_by_day(spark, tmp_path):
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Alpha (1990),Drama\n")
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n")
    cfg = tiny_config(tmp_path / "wd", source={"kind": "movielens", "data_dir": str(folder)})
    with pytest.raises(Exception, match="one file: ingesting by day needs an event log split into dt=YYYY-MM-DD folders"):
        ingest(cfg, spark, Interval(MARCH_1, MARCH_2))
