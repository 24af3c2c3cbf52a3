"""Erasure: after `forget`, no file under the workdir (Parquet decoded, the Delta log, SQLite rows and bytes) and no
read of the online store shows the user, but for the per-file statistics of commits older than the forget (see
README, Erasure); and replaying their old days through ingest brings nothing back."""

from __future__ import annotations

import json
import os
import pickle
import re
import sqlite3
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from jobs import lake
from jobs.erasure import forget, list_owners, scrub_validation
from jobs.suppression import hash_column, payload_user_id, user_hash
from tests.conftest import tiny_config

def _patterns(uid: int, variants: list[str]) -> list[re.Pattern]:
    """The user as text: a user_id field (JSON, also escaped inside a JSON string as Delta's statistics are), a
    list key "<version>:<variant>:<uid>", a raw MovieLens line "uid,..." or "uid::..." as a payload value."""
    return [re.compile(rf'user_id\\*"?\s*[:=]\s*\\*"?{uid}(?![\d.])'),
            re.compile(rf':(?:{"|".join(variants)}):{uid}(?!\d)'),
            re.compile(rf'payload\\*"?\s*:\s*\\*"{uid}(?:,|::)')]


def _in_value(key: str, value, uid: int, patterns) -> bool:
    """Whether a decoded value names the user: as a user id or list key column, or anywhere in a string."""
    if isinstance(value, dict):
        return any(_in_value(k, v, uid, patterns) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_in_value(key, v, uid, patterns) for v in value)
    if key == "user_id" and str(value) == str(uid):
        return True
    if isinstance(value, str):
        if key == "list_key" and value.rsplit(":", 1)[-1] == str(uid):
            return True
        if key == "payload" and re.match(rf"\s*{uid}(?:,|::)", value):
            return True
        return any(p.search(value) for p in patterns)
    return False


def _sqlite_traces(path: Path, uid: int, patterns) -> list[str]:
    """Decoded rows (Feast's entity keys deserialised, text columns searched) and the file's raw bytes."""
    from feast.infra.key_encoding_utils import deserialize_entity_key, serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    found = []
    with sqlite3.connect(path) as conn:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [c[1] for c in conn.execute(f'PRAGMA table_info("{table}")')]
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for column, value in zip(columns, row):
                    if column == "entity_key" and isinstance(value, bytes):
                        key = deserialize_entity_key(value, entity_key_serialization_version=3)
                        value = {k: getattr(v, v.WhichOneof("val")) for k, v in zip(key.join_keys, key.entity_values)}
                    if isinstance(value, bytes):
                        continue
                    if _in_value(column, value, uid, patterns):
                        found.append(f"{path} table {table}: {str(value)[:80]}")
    raw = b"".join(p.read_bytes() for p in path.parent.glob(f"{path.name}*"))
    activity_key = serialize_entity_key(EntityKey(join_keys=["user_id"], entity_values=[Value(int64_val=uid)]), 3)
    if activity_key in raw or any(p.search(raw.decode("latin-1")) for p in patterns):
        found.append(f"{path}: the user's key in the file's bytes")
    return found


def traces(root: Path, uid: int, variants: list[str]) -> list[str]:
    """Where `uid` still shows under `root`. landing/ is left out: it is the sources' own copy of their logs (the
    synthetic generator's, MovieLens' files converted), which ingest replays and the suppression list guards."""
    patterns = _patterns(uid, variants)
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if relative.parts[0] == "landing" or path.name.endswith(("-wal", "-shm")):
            continue
        head = path.read_bytes()[:16]
        if path.suffix == ".pkl":
            found.append(f"{relative}: a pickled model (per-user state)")
        elif path.suffix == ".parquet" and head.startswith(b"PAR1"):
            for row in pq.read_table(path).to_pylist():
                if any(_in_value(k, v, uid, patterns) for k, v in row.items()):
                    found.append(f"{relative}: {str(row)[:120]}")
                    break
        elif head.startswith(b"SQLite format 3"):
            found += [f"{relative}: {t}" for t in _sqlite_traces(path, uid, patterns)]
        else:
            text = path.read_bytes().decode("latin-1")
            found += [f"{relative}: {p.pattern}" for p in patterns if p.search(text)]
    return found


def _without_stats(node):
    if isinstance(node, dict):
        return {k: _without_stats(v) for k, v in node.items() if k != "stats"}
    if isinstance(node, list):
        return [_without_stats(v) for v in node]
    return node


def _left_behind(root: Path, found: list[str], since: float, uid: int, variants: list[str]) -> list[str]:
    """`found` less what Delta's log cleanup removes later: the per-file statistics in log files (commits,
    checksums, checkpoints) written before `since`. Anything else in such a file still counts."""
    patterns = _patterns(uid, variants)

    def only_in_old_stats(trace: str) -> bool:
        path = root / trace.split(": ")[0]
        if "_delta_log" not in path.parts or path.stat().st_mtime >= since:
            return False
        rows = (pq.read_table(path).to_pylist() if path.suffix == ".parquet" else
                [json.loads(line) for line in path.read_text().splitlines() if line.strip()])
        return not any(p.search(json.dumps(_without_stats(rows), default=str)) for p in patterns)
    return [t for t in found if not only_in_old_stats(t)]


def _online_reads(cfg, uid: int) -> list[str]:
    """The user as the API and the features step read the online store: every retained version and variant."""
    from serving.store import OnlineLists, open_store

    store = open_store(cfg)
    lists = OnlineLists(store)
    found = [f"list {v}:{variant}" for v in lists.versions() for variant in cfg.experiment.variants
             if lists.user_list(v, variant, uid) is not None]
    activity = store.get_online_features(features=["user_activity:events_total"], entity_rows=[{"user_id": uid}])
    if activity.to_dict()["events_total"][0] is not None:
        found.append("user_activity")
    return found


@pytest.fixture(scope="module")
def lake_run(spark, tmp_path_factory):
    """A tiny lake of our own taken through the pipeline (other tests read the session's `published`). Daily
    batches replayed after the first full ingest are a small share of it: no volume floor."""
    from jobs.pipeline import run_pipeline

    cfg = tiny_config(tmp_path_factory.mktemp("erasure"), contracts={"min_volume_ratio": 0.0})
    assert run_pipeline(cfg, spark, run_id="erase-run")["published_version"] == "erase-run"
    return cfg


@pytest.mark.spark
def test_a_forgotten_user_is_nowhere_and_stays_gone_after_a_backfill(spark, lake_run):
    from jobs.backfill import backfill
    from jobs.ingest import ingest

    cfg = lake_run
    root, variants = Path(cfg.workdir), list(cfg.experiment.variants)
    # The smallest id: it is the minimum of files' statistics in the Delta log, so the scan sees the log too.
    uid = int(lake.read(spark, cfg.table_path("silver", "interactions")).agg(F.min("user_id")).first()[0])
    before = traces(root, uid, variants)
    places = {t.split(":")[0].split("/part-")[0] for t in before}
    for expected in ("lake/bronze/events", "lake/bronze/users", "lake/silver/interactions", "lake/silver/users",
                     "lake/gold/user_features", "lake/gold/ranked_lists", "lake/gold/candidates",
                     "feast/online_store.db", "runs/erase-run/full/models.pkl", "runs/erase-run/eval/test_events.parquet"):
        assert any(p.startswith(expected) for p in places), f"the scan does not see the user in {expected}: {places}"
    assert any("_delta_log" in p for p in places), "the scan does not see the user in the Delta log's statistics"
    assert any("feast/data/user_recommendations.parquet" in p for p in places)
    assert _online_reads(cfg, uid), "the online store serves the user before forget"

    started = time.time()
    report = forget(cfg, spark, [uid])
    assert report["forgotten"] == [user_hash(uid)]
    deleted = report["deleted"][user_hash(uid)]
    assert deleted["silver.interactions"] > 0 and deleted["online.user_recommendations"] > 0
    assert _left_behind(root, traces(root, uid, variants), started, uid, variants) == []
    assert _online_reads(cfg, uid) == []
    vacuumed = Path(cfg.table_path("silver", "interactions")) / "_delta_log" / "_last_vacuum_info"
    assert json.loads(vacuumed.read_text())["latestCommitVersionOutsideOfRetentionWindow"] > 0, "LITE, as retention"
    audit = lake.read(spark, cfg.table_path("state", "erasure_log")).collect()
    assert [(r["user_hash"], r["rows_deleted"]["silver.users"]) for r in audit] == [(user_hash(uid), 1)]
    again = forget(cfg, spark, [uid])
    assert again["forgotten"] == [] and again["already_forgotten"] == [user_hash(uid)], "a second forget is a no-op"

    # Replay the first days the user has events on (by the day they were logged), then everything at once.
    log = root / "landing" / "synthetic" / "events"
    days = sorted(p.parent.name[3:] for p in log.glob("dt=*/*.parquet")
                  if uid in pq.read_table(p, columns=["user_id"]).column("user_id").to_pylist())[:2]
    for day in map(date.fromisoformat, days):
        assert backfill(cfg, spark, day, day, force=True)["ingested"][0]["landed"]["interactions"] > 0
    full = ingest(cfg, spark)["tables"]
    assert full["interactions"]["suppressed"] > 0 and full["users"]["suppressed"] == 1
    assert lake.read(spark, cfg.table_path("silver", "interactions")).where(F.col("user_id") == uid).isEmpty()
    assert _left_behind(root, traces(root, uid, variants), started, uid, variants) == []


@pytest.mark.spark
def test_forget_of_an_unknown_id_is_one_line_and_exit_2(spark, lake_run, capsys):
    from jobs.cli import main

    assert main(["forget", "--workdir", lake_run.workdir, "--user", "987654"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("movierec forget: error: user 987654: in no table of the lake")
    assert not any("Traceback" in line for line in err)


@pytest.mark.slow  # about 85 s for an edge case of a trimmed log (`make test-all`)
@pytest.mark.spark
def test_a_table_that_refuses_vacuum_lite_is_vacuumed_in_full(spark, tmp_path):
    """After a FULL VACUUM and a trimmed log, Delta refuses VACUUM LITE: the deleted rows' files still go."""
    from delta.tables import DeltaTable

    from jobs.erasure import Target, _delete, _purge

    path = str(tmp_path / "users")
    spark.range(10).withColumnRenamed("id", "user_id").repartition(2).write.format("delta").save(path)
    DeltaTable.forPath(spark, path).vacuum()
    log = Path(path) / "_delta_log"
    then = time.time() - 2 * 86_400
    for file in log.iterdir():
        os.utime(file, (then, then))
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.logRetentionDuration' = 'interval 0 hours', "
              f"'delta.checkpointInterval' = '1')")
    assert not (log / f"{0:020d}.json").exists(), "the log is trimmed"

    assert _delete(spark, Target("test.users", path, "user_id"), [3]) == 1
    _purge(spark, path)
    # LITE leaves the commit it vacuumed up to; FULL leaves none.
    assert json.loads((log / "_last_vacuum_info").read_text()).get("latestCommitVersionOutsideOfRetentionWindow") is None
    left = [v for part in Path(path).glob("*.parquet") for v in pq.read_table(part).column("user_id").to_pylist()]
    assert sorted(left) == [0, 1, 2, 4, 5, 6, 7, 8, 9]


@pytest.mark.spark
def test_ingest_reads_the_user_id_of_a_raw_line_as_the_hash_list_holds_it(spark):
    rows = spark.createDataFrame([('{"user_id": 17, "movie_id": 3}',), ('{"user_id": "17"}',), ("17,3,4.0,964982703",),
                                  ("17::3::5::978300760",), ('{"movie_id": 17}',), ("x,17",)], "payload string")
    ids = [r[0] for r in rows.select(payload_user_id(F.col("payload"))).collect()]
    assert ids == [17, 17, 17, 17, None, None]
    assert spark.range(1).select(hash_column(F.lit(17))).first()[0] == user_hash(17)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_the_online_store_deletes_exactly_the_keys_given(kind, tmp_path, request):
    from features.repo import definitions, feature_views
    from serving.store import USER_LIST_FEATURES, OnlineLists, delete_entities, open_store, write_repo_files

    overrides = {}
    if kind == "redis":
        _, port = request.getfixturevalue("redis_server")
        overrides = {"feast": {"online_store": "redis", "redis_connection": f"127.0.0.1:{port}"}}
    cfg = tiny_config(tmp_path, **overrides)
    write_repo_files(cfg)
    store = open_store(cfg)
    store.apply(definitions(cfg))
    now = pd.Timestamp.now(tz="UTC")
    keys = ["v1:control:5", "v1:slots:5", "v1:control:6", "v2:control:55"]
    store.write_to_online_store("user_recommendations", pd.DataFrame({
        "list_key": keys, "movie_ids": [[1]] * 4, "scores": [[0.5]] * 4, "reasons": [["Trending this week"]] * 4,
        "reason_ids": [[0]] * 4, "slots": [["similar"]] * 4, "generated_at": ["t"] * 4, "segment": [""] * 4,
        "event_timestamp": now}))
    view = next(v for v in feature_views(cfg) if v.name == "user_activity")
    fields = {f.name: [[0.5]] * 2 if "Array" in str(f.dtype) else [1.0] * 2 if "Float" in str(f.dtype) else [1] * 2
              for f in view.schema}
    store.write_to_online_store("user_activity", pd.DataFrame({"user_id": [5, 6], **fields, "event_timestamp": now}))

    # SQLite holds a row per feature of each key, Redis one hash per key.
    assert delete_entities(store, "user_recommendations", ["v1:control:5", "v1:slots:5"]) == (
        2 * len(USER_LIST_FEATURES) if kind == "sqlite" else 2)
    assert delete_entities(store, "user_activity", [5]) == (len(view.schema) if kind == "sqlite" else 1)
    lists = OnlineLists(store)
    assert [lists.user_list(*key.split(":")) is None for key in keys] == [True, True, False, False]
    activity = store.get_online_features(features=["user_activity:events_total"],
                                         entity_rows=[{"user_id": 5}, {"user_id": 6}]).to_dict()
    assert activity["events_total"] == [None, 1]
    if kind == "sqlite":
        assert traces(tmp_path / "feast", 5, ["control", "slots"]) == []


def test_scrubbing_a_contract_result_removes_only_the_users_samples():
    doc = {"result": {"results": [
        {"expectation_config": {"kwargs": {"column": "user_id"}},
         "result": {"partial_unexpected_list": [5, 7, 5], "partial_unexpected_counts": [{"value": 5, "count": 2},
                                                                                         {"value": 7, "count": 1}]}},
        {"expectation_config": {"kwargs": {"column_list": ["user_id", "event_timestamp"]}},
         "result": {"partial_unexpected_list": [{"user_id": 5, "event_timestamp": "t"}, {"user_id": 8, "event_timestamp": "t"}]}},
        {"expectation_config": {"kwargs": {"column": "movie_id"}}, "result": {"partial_unexpected_list": [5]}},
    ]}}
    assert scrub_validation(doc, {5}) == 4
    results = doc["result"]["results"]
    assert results[0]["result"] == {"partial_unexpected_list": [7], "partial_unexpected_counts": [{"value": 7, "count": 1}]}
    assert results[1]["result"]["partial_unexpected_list"] == [{"user_id": 8, "event_timestamp": "t"}]
    assert results[2]["result"]["partial_unexpected_list"] == [5], "another column's 5 is not the user"


def test_a_list_keys_owner_is_its_last_part():
    keys = pd.Series(["20260101T000000Z-abc123:control:5", "v:slots:55", "v:control:__fallback__"])
    assert list_owners(keys).tolist() == ["5", "55", "__fallback__"]


def test_the_scan_finds_a_user_in_each_kind_of_file(tmp_path):
    """The scan is not lax: each way a user can show is found, and a neighbour's id is not taken for theirs."""
    pd.DataFrame({"user_id": [7, 55]}).to_parquet(tmp_path / "a.parquet")
    pd.DataFrame({"list_key": ["v:control:5"]}).to_parquet(tmp_path / "b.parquet")
    pd.DataFrame({"payload": ["5,3,4.0,964982703"]}).to_parquet(tmp_path / "c.parquet")
    (tmp_path / "0.json").write_text(json.dumps({"add": {"stats": json.dumps({"minValues": {"user_id": 5}})}}))
    (tmp_path / "m.pkl").write_bytes(pickle.dumps({}))
    found = traces(tmp_path, 5, ["control"])
    assert [f.split(":")[0] for f in found] == ["0.json", "b.parquet", "c.parquet", "m.pkl"]
    assert [f.split(":")[0] for f in traces(tmp_path, 55, ["control"])] == ["a.parquet", "m.pkl"]
