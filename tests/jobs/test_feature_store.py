"""The Feast feature repo on real Spark + Delta: point-in-time rows, a planted future value that
the ranker's training set never sees, and features round-tripped through a real redis-server."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from conf.settings import InteractionsConfig
from data_contracts import columns as S
from jobs import feature_tables, lake
from jobs.features import build_features, user_features_at
from jobs.ingest import ingest
from jobs.train import load_inputs, train
from models.split import temporal_split
from models.training import split_for_ranker
from tests.conftest import tiny_config

pytestmark = pytest.mark.spark

DAY = 86400
INTERACTIONS = InteractionsConfig(weights={"watch": 1.0, "rating": 1.0, "skip": 0.0})


def _at(day: int, hour: int = 12) -> datetime:
    return datetime.fromtimestamp(day * DAY + hour * 3600, UTC)


def test_a_row_holds_only_events_before_its_time_and_windows_expire(spark):
    d = 20_000  # a day number: 2024-10-04
    events = spark.createDataFrame(pd.DataFrame({
        S.EVENT_ID: ["a", "b", "c", "d"], S.USER_ID: [1, 1, 1, 2], S.MOVIE_ID: [10, 11, 10, 11],
        S.EVENT_TYPE: ["watch", "rating", "skip", "watch"], S.VALUE: [None, 3.0, None, None],
        S.TS: [_at(d), _at(d, 18), _at(d + 10), _at(d + 3)],
    })).withColumn(S.VALUE, F.col(S.VALUE).cast("double"))
    movies = spark.createDataFrame([(10, ["Drama"]), (11, ["Comedy", "Drama"])], f"{S.MOVIE_ID} long, genres array<string>")
    users = spark.createDataFrame([(1, 34)], f"{S.USER_ID} long, age int")
    rows = (feature_tables.user_features(events, movies, users, ["Comedy", "Drama"], [7], INTERACTIONS)
            .where(F.col(S.USER_ID) == 1).orderBy("event_timestamp").toPandas())
    stamped = [int(t.timestamp()) // DAY for t in rows["event_timestamp"]]
    # Active days d and d + 10, and the days their events leave the 7-day window.
    assert stamped == [d + 1, d + 8, d + 11, d + 18]
    assert rows["events_total"].tolist() == [2, 2, 3, 3]
    assert rows["events_7d"].tolist() == [2, 0, 1, 0]
    assert rows["positives_total"].tolist() == [1, 1, 1, 1]   # the watch; a rating of 3 and a skip are not positives
    assert rows["avg_rating"].tolist() == [3.0] * 4
    assert rows["last_event_at"].tolist()[-1] == _at(d + 10).timestamp()
    assert rows["age"].tolist() == [34] * 4
    assert rows["genre_affinity"].iloc[0].tolist() == [0.0, 1.0]


@pytest.fixture(scope="module")
def featured(tmp_path_factory, spark):
    """A tiny synthetic lake with its gold features built and registered: (cfg, run_id)."""
    cfg = tiny_config(tmp_path_factory.mktemp("features"))
    ingest(cfg, spark)
    build_features(cfg, spark, "features-run")
    return cfg, "features-run"


def _label_starts(cfg, spark, run_id) -> pd.Series:
    """Each user's start of the ranker's label window, as the eval split's train step computes it."""
    events, _, _ = load_inputs(cfg, spark, run_id)
    train_events, _ = temporal_split(events, cfg.evaluation.test_fraction)
    fit_events, label_events = split_for_ranker(train_events, cfg)
    starts = label_events.groupby(S.USER_ID)[S.TS].min()
    return starts[starts.index.isin(fit_events[S.USER_ID].unique())]


def _plant(spark, cfg, rows: pd.DataFrame) -> None:
    """Append rows to gold user_features, every other column copied from the user's latest real row."""
    path = cfg.table_path("gold", "user_features")
    table = lake.read(spark, path)
    latest = table.groupBy(S.USER_ID).agg(F.max("event_timestamp").alias("event_timestamp")).join(
        table, [S.USER_ID, "event_timestamp"])
    planted = (spark.createDataFrame(rows).join(latest.drop("event_timestamp", "events_total"), S.USER_ID)
               .select(*table.columns))
    planted.write.format("delta").mode("append").save(path)


def test_ranker_training_set_takes_features_as_of_each_users_label_window(featured, spark):
    cfg, run_id = featured
    starts = _label_starts(cfg, spark, run_id)
    just_before = starts - pd.Timedelta(seconds=1)
    just_after = starts + pd.Timedelta(seconds=1)
    _plant(spark, cfg, pd.DataFrame({S.USER_ID: starts.index.to_numpy(), "events_total": 123_456,
                                     "event_timestamp": pd.to_datetime(just_before, utc=True).to_numpy()}))
    _plant(spark, cfg, pd.DataFrame({S.USER_ID: starts.index.to_numpy(), "events_total": 999_999,
                                     "event_timestamp": pd.to_datetime(just_after, utc=True).to_numpy()}))

    train(cfg, spark, run_id, "eval")

    rows = (lake.read(spark, cfg.table_path("gold", "ranker_training"))
            .where((F.col(S.RUN_ID) == run_id) & (F.col(S.SPLIT) == "eval")).toPandas())
    assert len(rows) > 0
    seen = set(rows["store_events_total"].unique())
    assert 999_999 not in seen, "a feature value from after the label window started leaked into training"
    assert seen == {123_456}, "every training row carries the value stamped just before its user's label window"

    # The same lookup at a later time does see the planted future row: it is there, just not visible before.
    later = pd.DataFrame({S.USER_ID: starts.index[:3], "event_timestamp": just_after.iloc[:3].to_numpy()})
    assert set(user_features_at(cfg, later)["events_total"]) == {999_999}


def test_features_round_trip_through_a_real_redis_server(featured, spark, redis_server, tmp_path):
    from jobs.features import apply_and_materialise
    from serving.store import open_store

    cfg, _ = featured
    _, port = redis_server
    redis_cfg = cfg.model_copy(update={"feast": cfg.feast.model_copy(update={
        "online_store": "redis", "redis_connection": f"127.0.0.1:{port}", "repo_dir": str(tmp_path / "feast")})})
    assert apply_and_materialise(redis_cfg) == ["user_activity", "movie_activity", "movie_attributes"]

    gold = lake.read(spark, cfg.table_path("gold", "user_features")).where(
        F.col("event_timestamp") <= F.current_timestamp()).toPandas()
    gold = gold[gold["events_total"] < 100_000]  # rows other tests planted (all stamped earlier) are not current
    latest = gold.sort_values("event_timestamp").groupby(S.USER_ID).tail(1).set_index(S.USER_ID).sort_index()
    users = latest.index[:20].tolist()
    online = open_store(redis_cfg).get_online_features(
        features=["user_activity:events_total", "user_activity:events_30d", "user_activity:genre_affinity"],
        entity_rows=[{S.USER_ID: u} for u in users]).to_df().set_index(S.USER_ID)
    assert online["events_total"].tolist() == latest.loc[users, "events_total"].tolist()
    assert online["events_30d"].tolist() == latest.loc[users, "events_30d"].tolist()
    np.testing.assert_allclose(np.stack(online["genre_affinity"]), np.stack(latest.loc[users, "genre_affinity"]), rtol=1e-6)
    assert not (tmp_path / "feast" / "online_store.db").exists(), "nothing went to SQLite"

    movies = open_store(redis_cfg).get_online_features(
        features=["movie_attributes:year", "movie_activity:viewers"], entity_rows=[{S.MOVIE_ID: 1001}]).to_dict()
    assert movies["year"][0] is not None and movies["viewers"][0] > 0
