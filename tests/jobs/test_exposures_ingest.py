"""The exposure log into silver.exposures: typed, deduplicated on exposure_id, bad rows quarantined with a reason."""

import json

import pytest
from pyspark.sql import functions as F

from jobs import lake
from jobs.exposures import ingest_exposures
from tests.conftest import tiny_config

pytestmark = pytest.mark.spark


def _line(exposure_id="a-1", user_id=5, **fields):
    record = {"exposure_id": exposure_id, "served_at": "2026-03-01T10:00:00.000+00:00", "user_id": user_id,
              "experiment": "exp", "variant": "control", "served_variant": "control", "version": "v1",
              "context": "home", "movie_ids": [3, 1, 2], "fallback": False, "degraded": False}
    return json.dumps({**record, **fields})


def test_exposures_land_typed_once_and_bad_ones_are_quarantined(spark, tmp_path):
    log = tmp_path / "exposures"
    cfg = tiny_config(tmp_path, serving={"exposure_log": str(log)})
    day = log / "dt=2026-03-01"
    day.mkdir(parents=True)
    (day / "exposures-w1.jsonl").write_text("\n".join([
        _line("a-1"), _line("a-2", 6, variant="slots", fallback=True), _line("a-1"),           # a-1 twice: one row
        "{not json", _line("a-3", -4), _line("a-4", variant=None), _line("a-5", served_at="yesterday"),
        _line("a-6", movie_ids=[1, "x"]), _line("a-7", served_at="2999-01-01T00:00:00+00:00"),
        *(_line(f"a-{n}", n) for n in range(8, 12)),
    ]) + "\n")
    (log / "dt=2026-03-02").mkdir()
    (log / "dt=2026-03-02" / "exposures-w2.jsonl").write_text(_line("b-1", 7) + "\n")

    first = ingest_exposures(cfg, spark, "batch-1")
    assert first["read"] == 14 and first["landed"] == 7 and first["duplicates"] == 1 and first["inserted"] == 7
    assert first["by_rule"] == {"unparseable_row": 1, "invalid_user_id": 1, "missing_variant": 1,
                                "invalid_served_at": 1, "invalid_movie_ids": 1, "served_at_in_future": 1}
    silver = {r["exposure_id"]: r for r in lake.read(spark, cfg.table_path("silver", "exposures")).collect()}
    assert set(silver) == {"a-1", "a-2", "a-8", "a-9", "a-10", "a-11", "b-1"}
    assert silver["a-1"]["movie_ids"] == [3, 1, 2] and silver["a-2"]["fallback"] is True
    assert str(silver["a-1"]["served_date"]) == "2026-03-01" and silver["a-2"]["variant"] == "slots"
    quarantined = (lake.read(spark, cfg.table_path("quarantine", "rows")).where(F.col("table_name") == "exposures")
                   .groupBy("reason").count().collect())
    assert {r["reason"]: r["count"] for r in quarantined} == first["by_rule"]

    again = ingest_exposures(cfg, spark, "batch-2")
    assert again["inserted"] == 0, "an exposure is inserted once, however often its file is read"
    from datetime import date

    one_day = ingest_exposures(cfg, spark, "batch-3", [date(2026, 3, 2)])
    assert one_day["read"] == 1 and one_day["files"] == 1
    assert ingest_exposures(cfg, spark, "batch-4", [date(2026, 3, 5)]) is None, "no log for that day"
