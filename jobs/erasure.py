"""Erasure, the right to be forgotten: `movierec forget --user ID` removes users from every place movierec keeps them.

In this order, so that a forget stopped half-way is finished by running it again:

1. The users' hashes join the suppression list (jobs/suppression.py): from then on ingest drops their lines.
2. The lake: every Delta table with a `user_id` column (silver, held events, gold features, candidates and
   lists) or a raw `payload` (bronze, quarantine: the user id read as ingest reads it) loses the users' rows.
   gold.ranker_training loses all of its rows: they are keyed by a row number among a run's training users,
   which is not kept, so one user's rows cannot be told apart (the next run writes them again). Rows go through
   a MERGE against a frame of the ids, so the log records a comparison of columns, not an id; the table is then
   VACUUMed with no retention, so the files that held the rows are gone. Older commits of the log keep each
   file's min/max statistics, which may be a user's id: Delta's log cleanup removes them after the table's
   `delta.logRetentionDuration` (see README, Erasure).
3. Runs: every run's per-user files go: the fitted models of both splits (user factors, histories, id maps)
   and the held-out test events. Reports, figures, rankers and the MLflow store hold no per-user rows.
4. Feast: the offline snapshot of the served lists is rewritten without the users' lists; the online store
   loses their activity features and their list in every retained version and variant.
5. Saved data-contract results lose the users' ids from their samples of unexpected values; the API's exposure
   log files lose the users' lines (an API still serving them logs their next requests, which ingest then drops).
6. An audit row per user goes to state.erasure_log: the hash (never the id), the time, and rows deleted per place.

Run it between pipeline runs: a run in flight reads silver at versions this makes unreadable.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path

import pandas as pd
from delta.tables import DeltaTable
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from conf import Config
from data_contracts import columns as S
from jobs import lake, suppression
from jobs.errors import PipelineError
from jobs.exposures import log_files
from jobs.features import USER_VIEW

log = logging.getLogger("movierec.erasure")
AUDIT = ("state", "erasure_log")
ALL_ROWS = "gold.ranker_training"
LISTS_VIEW = "user_recommendations"


@dataclass(frozen=True)
class Target:
    """A Delta table that holds users' rows, and what names a row's user: its `user_id`, the user id in its
    raw `payload`, or nothing (`all`: every row goes)."""

    name: str   # layer.table
    path: str
    match: str  # user_id | payload | all


def _user_of(match: str, alias: str = "") -> Column:
    prefix = f"{alias}." if alias else ""
    if match == S.USER_ID:
        return F.col(f"{prefix}{S.USER_ID}")
    return suppression.payload_user_id(F.col(f"{prefix}{S.PAYLOAD}"))


def user_tables(spark: SparkSession, cfg: Config) -> list[Target]:
    """Every table of the lake that holds users' rows (found by its columns, so a new table is covered too)."""
    targets = []
    for path in lake.delta_tables(spark, cfg.lake_root):
        name = ".".join(lake.layer_and_name(path))
        columns = lake.read(spark, path).columns
        match = ("all" if name == ALL_ROWS else S.USER_ID if S.USER_ID in columns
                 else S.PAYLOAD if S.PAYLOAD in columns else None)
        if match:
            targets.append(Target(name, path, match))
    return targets


def _locate(spark: SparkSession, targets: list[Target], ids: list[int]) -> dict[str, dict[int, int]]:
    """Rows per table and user (for `all` tables, the table's rows under every user)."""
    found = {}
    for target in targets:
        frame = lake.read(spark, target.path)
        if target.match == "all":
            rows = frame.count()
            found[target.name] = {uid: rows for uid in ids} if rows else {}
            continue
        counts = (frame.select(_user_of(target.match).alias("_user")).where(F.col("_user").isin(ids))
                  .groupBy("_user").count().collect())
        found[target.name] = {int(r["_user"]): int(r["count"]) for r in counts}
    return found


def _listed(spark: SparkSession, path: str, hashes: list[str]) -> set[str]:
    if not lake.exists(spark, path):
        return set()
    rows = lake.read(spark, path).where(F.col(S.USER_HASH).isin(hashes)).select(S.USER_HASH).collect()
    return {r[0] for r in rows}


def _delete(spark: SparkSession, target: Target, ids: list[int]) -> int:
    """Delete the users' rows (all rows of an `all` table); return the rows deleted."""
    table = DeltaTable.forPath(spark, target.path)
    if target.match == "all":
        table.delete()
        return lake.last_written_rows(spark, target.path, "numDeletedRows")
    users = spark.createDataFrame([(uid,) for uid in ids], f"{S.USER_ID} bigint")
    metrics = (table.alias("t").merge(users.alias("s"), _user_of(target.match, "t") == F.col(f"s.{S.USER_ID}"))
               .whenMatchedDelete().execute().first())
    return int(metrics["num_deleted_rows"] or 0)


def _purge(spark: SparkSession, path: str) -> None:
    """Make deleted rows unrecoverable: rewrite files masked by deletion vectors (where the table uses them), then
    VACUUM with no retention, lifting Delta's 7-day check for this call only.

    LITE, as retention vacuums: it deletes the files the log says were removed, and keeps the table fit for LITE
    (a FULL VACUUM clears the mark LITE starts from, and once the log is trimmed LITE then refuses). Where LITE
    already refuses, FULL lists the folder instead."""
    properties = DeltaTable.forPath(spark, path).detail().first()["properties"] or {}
    if properties.get("delta.enableDeletionVectors") == "true":
        spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
    with lake.retention_check_lifted(spark):
        try:
            spark.sql(f"VACUUM delta.`{path}` LITE RETAIN 0 HOURS").collect()
        except Exception as exc:  # py4j's error, whatever Delta raised: only this one is expected
            if "DELTA_CANNOT_VACUUM_LITE" not in str(exc):
                raise
            DeltaTable.forPath(spark, path).vacuum(0.0)


def _forget_in_runs(cfg: Config) -> int:
    """Delete every run's per-user files (runs.model_path of each split, runs.test_path); return how many."""
    root = Path(cfg.runs_dir)
    files = [*root.glob("*/*/models.pkl"), *root.glob("*/eval/test_events.parquet")] if root.is_dir() else []
    for path in files:
        path.unlink()
    return len(files)


def list_owners(keys: pd.Series) -> pd.Series:
    """The user of each list key "<version>:<variant>:<user>" (serving.store.list_key), as text."""
    return keys.str.rsplit(":", n=1).str[-1]


def _forget_in_snapshot(cfg: Config, ids: list[int]) -> dict[int, int]:
    """Rewrite the part files of the served lists' offline snapshot without the users' lists; rows per user."""
    folder = Path(cfg.feast.repo_dir) / "data" / f"{LISTS_VIEW}.parquet"
    parts = [folder] if folder.is_file() else sorted(folder.glob("*.parquet"))
    users = {str(uid): uid for uid in ids}
    removed: dict[int, int] = {}
    for part in parts:
        frame = pd.read_parquet(part)
        owners = list_owners(frame["list_key"])
        hit = owners.isin(users)
        if not hit.any():
            continue
        for owner, rows in owners[hit].value_counts().items():
            removed[users[owner]] = removed.get(users[owner], 0) + int(rows)
        tmp = part.with_name(f".{part.name}.tmp")
        frame[~hit].to_parquet(tmp, index=False)
        tmp.replace(part)
    return removed


def _forget_in_store(cfg: Config, ids: list[int]) -> dict[int, dict[str, int]]:
    """Delete each user's activity row and list (every retained version, every variant it was published with);
    rows (SQLite) or keys (Redis) per user and view."""
    if not (Path(cfg.feast.repo_dir) / "registry.db").exists():
        return {}
    from serving.store import OnlineLists, delete_entities, list_key, open_store

    store = open_store(cfg)
    views = {view.name for view in store.list_feature_views()}
    keys: dict[int, list[str]] = {uid: [] for uid in ids}
    if LISTS_VIEW in views:
        lists = OnlineLists(store)
        for version in lists.versions():
            release = lists.release(version)
            variants = set(cfg.experiment.variants) | set(release.variants if release else [])
            for uid in ids:
                keys[uid] += [list_key(version, variant, uid) for variant in sorted(variants)]
    deleted = {}
    for uid in ids:
        deleted[uid] = {f"online.{USER_VIEW}": delete_entities(store, USER_VIEW, [uid]) if USER_VIEW in views else 0,
                        f"online.{LISTS_VIEW}": delete_entities(store, LISTS_VIEW, keys[uid])}
    return deleted


def scrub_validation(doc: dict, ids: set[int]) -> int:
    """Remove `ids` from the samples of unexpected values that a saved data-contract result
    (data_contracts.suites.save) keeps for expectations on `user_id`; return how many were removed. In place."""
    def names_user(value) -> bool:
        value = value.get(S.USER_ID) if isinstance(value, dict) else value
        return str(value) in {str(uid) for uid in ids}

    removed = 0
    for check in doc.get("result", {}).get("results", []):
        kwargs = check.get("expectation_config", {}).get("kwargs", {})
        if S.USER_ID not in (kwargs.get("column"), *kwargs.get("column_list", [])):
            continue
        result = check.get("result", {})
        for name, value_of in (("partial_unexpected_list", lambda v: v), ("partial_unexpected_counts", lambda v: v["value"])):
            values = result.get(name) or []
            kept = [v for v in values if not names_user(value_of(v))]
            removed += len(values) - len(kept)
            if len(kept) < len(values):
                result[name] = kept
    return removed


def _forget_in_validations(cfg: Config, ids: list[int]) -> dict[int, int]:
    """Scrub every saved data-contract result (per ingested batch, and per run); values removed per user."""
    removed = dict.fromkeys(ids, 0)
    for path in [*cfg.validations_dir.glob("*/*.json"), *Path(cfg.runs_dir).glob("*/validations/*.json")]:
        doc = json.loads(path.read_text())
        found = {uid: scrub_validation(doc, {uid}) for uid in ids}
        if any(found.values()):
            path.write_text(json.dumps(doc, indent=1, default=str))
            removed = {uid: removed[uid] + found[uid] for uid in ids}
    return removed


def forget_in_exposure_log(folder: str | None, ids: list[int]) -> dict[int, int]:
    """Drop the users' lines from the API's exposure log files (serving/exposures.py); lines removed per user.
    Each file is rewritten beside itself and renamed over: an API appending at that moment loses at most the
    lines of one flush. Lines that are not JSON are kept (ingest quarantines them)."""
    removed = dict.fromkeys(ids, 0)
    wanted = set(ids)
    for path in map(Path, log_files(folder, None) if folder else []):
        kept, changed = [], False
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            try:
                user = json.loads(line).get(S.USER_ID)
            except (ValueError, AttributeError):
                user = None
            if user in wanted:
                removed[user] += 1
                changed = True
            else:
                kept.append(line)
        if changed:
            scratch = path.with_suffix(".jsonl.forget")
            scratch.write_text("".join(kept), encoding="utf-8")
            scratch.replace(path)
    return removed


def _audit(spark: SparkSession, cfg: Config, rows: dict[str, dict[str, int]]) -> None:
    """One row per user hash: when, the places touched, and rows deleted per place."""
    now = datetime.now(UTC)
    frame = spark.createDataFrame(
        [(user, now, sorted(p for p, n in places.items() if n), {p: n for p, n in places.items() if n})
         for user, places in rows.items()],
        f"{S.USER_HASH} string, erased_at timestamp, tables_touched array<string>, rows_deleted map<string, bigint>")
    frame.write.format("delta").mode("append").save(cfg.table_path(*AUDIT))


def forget(cfg: Config, spark: SparkSession, user_ids: list[int]) -> dict:
    """Remove `user_ids` from everything movierec keeps and suppress them in ingest; return the hashes forgotten
    (and those forgotten before), rows deleted per place, the tables purged and the seconds it took.

    An id found in no table of the lake and never forgotten is an error (nothing is touched); one forgotten
    before (its audit row written) is reported and left alone. A user on the suppression list without an audit
    row is a forget that stopped half-way: every table is purged again."""
    start = time.perf_counter()
    ids = sorted(set(user_ids))
    hashes = {uid: suppression.user_hash(uid) for uid in ids}
    targets = user_tables(spark, cfg)
    found = _locate(spark, targets, ids)
    in_lake = {uid for target in targets if target.match != "all" for uid in found[target.name]}
    suppressed = _listed(spark, suppression.path(cfg), list(hashes.values()))
    audited = _listed(spark, cfg.table_path(*AUDIT), list(hashes.values()))
    unknown = [uid for uid in ids if uid not in in_lake and hashes[uid] not in suppressed]
    if unknown:
        raise PipelineError(f"user {', '.join(map(str, unknown))}: in no table of the lake ({cfg.lake_root}) and never "
                            f"forgotten: nothing to erase; check the id (nothing was changed)")
    done = [uid for uid in ids if uid not in in_lake and hashes[uid] in audited]
    todo = [uid for uid in ids if uid not in done]
    result: dict = {"forgotten": [hashes[uid] for uid in todo], "already_forgotten": [hashes[uid] for uid in done]}
    if not todo:
        return {**result, "seconds": round(time.perf_counter() - start, 2)}
    finishing = any(hashes[uid] in suppressed for uid in todo)
    suppression.add(spark, cfg, [hashes[uid] for uid in todo])

    places: dict[int, dict[str, int]] = {uid: {} for uid in todo}
    purged = []
    for target in targets:
        rows = {uid: n for uid, n in found[target.name].items() if uid in places}
        if not rows and not finishing:
            continue
        began = time.perf_counter()
        deleted = _delete(spark, target, todo) if rows else 0
        _purge(spark, target.path)
        purged.append(target.name)
        log.info("%s: %d rows deleted and the table vacuumed in %.1f s", target.name, deleted,
                 time.perf_counter() - began)
        for uid, n in rows.items():
            # The located rows; an `all` table's deletion is every user's.
            places[uid][target.name] = deleted if target.match == "all" else n
    run_files = _forget_in_runs(cfg)
    snapshot = _forget_in_snapshot(cfg, todo)
    store = _forget_in_store(cfg, todo)
    validations = _forget_in_validations(cfg, todo)
    exposure_lines = forget_in_exposure_log(cfg.serving.exposure_log, todo)
    for uid in todo:
        places[uid] |= {"runs.files": run_files, f"feast.{LISTS_VIEW}_snapshot": snapshot.get(uid, 0),
                        "validations": validations[uid], "exposure_log": exposure_lines[uid], **store.get(uid, {})}
    _audit(spark, cfg, {hashes[uid]: places[uid] for uid in todo})
    seconds = round(time.perf_counter() - start, 2)
    log.info("forgot %d users: %d tables purged, %d run files deleted, in %.1f s", len(todo), len(purged), run_files,
             seconds)
    return {**result, "deleted": {hashes[uid]: {p: n for p, n in places[uid].items() if n} for uid in todo},
            "purged_tables": purged, "seconds": seconds}
