"""Training events read from a pinned Delta snapshot: DuckDB over its files and Spark agree exactly."""

import numpy as np
import pandas as pd
import pytest

from data_contracts import columns as S
from jobs import lake
from jobs.training_events import local_snapshot_files, read_events

pytestmark = pytest.mark.spark


def _events() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 400
    ts = pd.Timestamp("2026-01-30", tz="UTC") + pd.to_timedelta(rng.integers(0, 5, n), unit="D")  # many ties, two months
    return pd.DataFrame({
        S.EVENT_ID: [f"ev{i:04d}" for i in rng.permutation(n)], S.USER_ID: rng.integers(1, 30, n).astype(np.int64),
        S.MOVIE_ID: rng.integers(100, 120, n).astype(np.int64), S.EVENT_TYPE: rng.choice(list(S.EVENT_TYPES), n),
        S.VALUE: np.where(rng.random(n) < 0.3, rng.integers(1, 6, n), np.nan),
        S.WATCH_SECONDS: np.where(rng.random(n) < 0.3, rng.integers(60, 6000, n), np.nan), S.DEVICE: "tv", S.TS: ts,
    }).assign(**{S.EVENT_MONTH: lambda f: f[S.TS].dt.strftime("%Y-%m")})


def _write(spark, frame, path):
    spark.createDataFrame(frame).write.format("delta").mode("overwrite").partitionBy(S.EVENT_MONTH).save(path)


def test_duckdb_and_spark_read_the_same_sorted_compact_events(spark, tmp_path):
    path = str(tmp_path / "interactions")
    events = _events()
    _write(spark, events, path)
    live = np.arange(100, 118)                      # movies 118 and 119 are retired
    duck = read_events(spark, path, 0, live, engine="duckdb")
    via_spark = read_events(spark, path, 0, live, engine="spark")
    pd.testing.assert_frame_equal(duck, via_spark)
    expected = (events[events[S.MOVIE_ID].isin(live)].sort_values([S.USER_ID, S.TS, S.EVENT_ID], kind="mergesort")
                .reset_index(drop=True))
    assert duck[S.USER_ID].tolist() == expected[S.USER_ID].tolist()
    assert duck[S.MOVIE_ID].tolist() == expected[S.MOVIE_ID].tolist(), "ties in time broken by event id"
    assert duck[S.EVENT_TYPE].astype(str).tolist() == expected[S.EVENT_TYPE].tolist()
    np.testing.assert_array_equal(duck[S.VALUE], expected[S.VALUE])
    assert (duck[S.TS] == expected[S.TS]).all()
    assert duck[S.EVENT_ID].tolist() == list(range(len(duck)))
    assert isinstance(duck[S.EVENT_TYPE].dtype, pd.CategoricalDtype)


def test_a_pinned_version_is_read_as_it_was(spark, tmp_path):
    path = str(tmp_path / "interactions")
    events = _events()
    _write(spark, events, path)
    from delta.tables import DeltaTable

    DeltaTable.forPath(spark, path).delete(f"{S.USER_ID} = 5")
    live = np.arange(100, 120)
    before, after = read_events(spark, path, 0, live, engine="duckdb"), read_events(spark, path, 1, live, engine="duckdb")
    assert (before[S.USER_ID] == 5).any() and not (after[S.USER_ID] == 5).any()
    assert len(after) == (events[S.USER_ID] != 5).sum()


def test_tables_with_deletion_vectors_are_left_to_spark(spark, tmp_path):
    path = str(tmp_path / "interactions")
    _write(spark, _events(), path)
    assert local_snapshot_files(spark, path, None)
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    assert local_snapshot_files(spark, path, None) is None
    from delta.tables import DeltaTable

    DeltaTable.forPath(spark, path).delete(f"{S.USER_ID} = 5")
    auto = read_events(spark, path, None, np.arange(100, 120))
    assert not (auto[S.USER_ID] == 5).any(), "deleted rows stay deleted"
    assert lake.exists(spark, path)
