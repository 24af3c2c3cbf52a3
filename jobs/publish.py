"""Publish: write a run's lists, similar movies and movie cards to the Feast online store as a new
version, then flip the manifest, then prune old versions.

Only a run whose gates passed publishes. Every list of the version is written before the
manifest row changes, so a failed or gated-out run leaves the previous version serving.

Spark stages each view as parquet in hash buckets of about `publish.chunk_rows` keys, and the
driver writes one bucket at a time to the online store (jobs/online_writes.py) and to the view's
offline snapshot, a folder of part files: what the driver holds does not grow with the number of
users. User lists are stored as arrays; the movies' card fields their items show are written once, as
the version's catalogue row (serving/responses.py). After the
flip, versions beyond `publish.keep_versions` are deleted from the online store; the manifest's
row "held" records which versions the store holds, newest first, from before the first row of a
version is written until its rows are deleted.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, UTC
from functools import partial
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from conf import Config
from data_contracts import columns as S
from jobs import lake, runs
from jobs.errors import PipelineError
from jobs.online_writes import OnlineWriter
from jobs.progress import Progress, spark_tasks
from jobs.score import FALLBACK_USER, read_lists
from jobs.tracking import record_outcome
from jobs.runs import model_path
from models.recommend import FINAL, final_list_name
from models.segments import SEGMENT_PREFIX, profile_columns, segment_names
from serving.responses import GENRE_SEPARATOR, encode_cards, encode_items, reason_codes
from serving.store import (CURRENT, FALLBACK, HELD, Manifest, OnlineLists, catalogue_key, delete_versions,
                           open_store, release_key, use_wal, write_repo_files)

log = logging.getLogger("movierec.publish")
BUCKET = "publish_bucket"


class PublishRefused(PipelineError):
    """The run may not publish (gates failed or it was never evaluated)."""


@dataclass(frozen=True)
class Staged:
    """A view's rows that Spark wrote as parquet partitioned by hash bucket of the key, read back one bucket
    (about `rows / buckets` rows) at a time."""

    spark: SparkSession
    path: str
    buckets: int
    rows: int

    def chunks(self) -> Iterator[pd.DataFrame]:
        if self.rows == 0:
            return
        local = lake.local_path(self.path)
        if local is not None:  # read by Arrow on the driver: through the JVM, a bucket took several times as long
            import pyarrow.parquet as pq

            for bucket in range(self.buckets):
                folder = Path(local) / f"{BUCKET}={bucket}"
                if folder.is_dir():
                    chunk = pq.read_table(folder).to_pandas()
                    if len(chunk):
                        yield chunk
                    del chunk
            return
        frame = self.spark.read.parquet(self.path)  # lists the bucket folders once
        for bucket in range(self.buckets):
            chunk = frame.where(F.col(BUCKET) == bucket).drop(BUCKET).toPandas()
            if len(chunk):
                yield chunk
            del chunk  # not held while the next bucket is read


Rows = pd.DataFrame | Staged


@dataclass(frozen=True)
class Version:
    """Everything one published version holds, keyed like the feature views in features/repo.py: in memory
    (the bench and tests) or staged by Spark."""

    name: str
    lists: Rows    # list_key + serving.responses.LIST_COLUMNS, generated_at (and segment)
    similar: Rows  # movie_key + serving.responses.ITEM_COLUMNS
    cards: Rows    # movie_key + CARD_FEATURES: also the version's catalogue, which user lists' items join
    withheld: tuple[str, ...] = ()   # experiment variants whose lists failed their gates: not in this version


def buckets_for(rows: int, chunk_rows: int) -> int:
    return max(1, math.ceil(rows / chunk_rows))


def stage(frame: DataFrame, key: str, path: str, chunk_rows: int,
          group: Callable[[DataFrame], DataFrame] | None = None) -> Staged:
    """Write `frame` to `path` as parquet in hash buckets of `key` of about `chunk_rows` keys each.

    `group` (given the bucketed rows, grouping by `BUCKET` and `key`) aggregates them in the shuffle that
    buckets them, so a list is collected where it is written.
    """
    rows = frame.select(key).distinct().count()
    buckets = buckets_for(rows, chunk_rows)
    bucketed = frame.withColumn(BUCKET, F.pmod(F.xxhash64(key), F.lit(buckets))).repartition(buckets, BUCKET)
    (group(bucketed) if group else bucketed).write.mode("overwrite").partitionBy(BUCKET).parquet(path)
    return Staged(frame.sparkSession, path, buckets, rows)


def _item_fields(prefix: str) -> list:
    """serving.responses.ITEM_COLUMNS from a sorted array of item structs."""
    return [
        F.col(f"{prefix}.{S.MOVIE_ID}").alias("movie_ids"),
        F.transform(f"{prefix}.{S.SCORE}", lambda s: s.cast("float")).alias("scores"),
        F.col(f"{prefix}.title").alias("titles"),
        F.col(f"{prefix}.year").alias("years"),
        F.col(f"{prefix}.genres").alias("genres"),
        F.col(f"{prefix}.poster_path").alias("poster_paths"),
    ]


def _movie_fields(movies):
    return movies.select(
        S.MOVIE_ID,
        F.coalesce("title", F.lit("")).alias("title"),
        F.coalesce(F.col("year").cast("long"), F.lit(0)).alias("year"),
        F.concat_ws(GENRE_SEPARATOR, F.coalesce("genres", F.array().cast("array<string>"))).alias("genres"),
        F.coalesce("poster_path", F.lit("")).alias("poster_path"),
    )


def _movie_key(version: str, movie_id) -> F.Column:
    """serving.store.movie_key in Spark."""
    return F.concat(F.lit(f"{version}:"), F.col(movie_id).cast("string"))


def stage_version(cfg: Config, spark: SparkSession, run_id: str, state: dict, version: str, path: str) -> Version:
    """Stage the run's full lists, similar movies and cards under `path`, keyed for `version`."""
    chunk_rows = cfg.publish.chunk_rows
    movies = lake.read(spark, cfg.table_path("silver", "movies"), state["silver_versions"]["movies"]).where(~F.col("deleted"))
    fields = _movie_fields(movies)
    withheld = tuple(state["evaluation"]["gates"].get("withheld", []))
    variant = F.when(F.col(S.LIST_NAME) == FINAL, F.lit(cfg.experiment.control)).otherwise(
        F.substring_index(F.col(S.LIST_NAME), "@", -1))
    audiences = {int(a): key for a, key in state.get("audiences_full", {}).items()}
    user = F.when(F.col(S.USER_ID) == FALLBACK_USER, F.lit(FALLBACK))
    if audiences:   # segment and genre lists (models/segments.py)
        names = F.create_map(*[F.lit(v) for pair in audiences.items() for v in pair])
        user = user.when(F.col(S.USER_ID) < FALLBACK_USER, F.element_at(names, F.col(S.USER_ID)))
    user = user.otherwise(F.col(S.USER_ID).cast("string"))
    # serving.store.list_key in Spark.
    ranked = (read_lists(cfg, spark, run_id, "full", "ranked_lists")
              .where(~F.col(S.LIST_NAME).isin([final_list_name(v) for v in withheld]))
              .withColumn("list_key", F.concat(F.lit(f"{version}:"), variant, F.lit(":"), user)))
    if any(key.startswith(SEGMENT_PREFIX) for key in audiences.values()):
        ranked = ranked.unionByName(_segment_pointers(cfg, spark, run_id, state, version, withheld), allowMissingColumns=True)
    # A pointer row has no item: its struct is null, which collect_list leaves out.
    items = F.sort_array(F.collect_list(F.when(F.col(S.RANK).isNotNull(), F.struct(
        S.RANK, S.MOVIE_ID, S.SCORE, S.REASON_TEXT, S.SLOT))))
    generated_at = datetime.now(UTC).isoformat()
    segment = F.coalesce(F.max("segment"), F.lit("")) if "segment" in ranked.columns else F.lit("")
    lists = stage(ranked, "list_key", f"{path}/user_recommendations", chunk_rows, lambda rows: (
        rows.groupBy(BUCKET, "list_key").agg(items.alias("items"), segment.alias("segment")).select(
            BUCKET, "list_key",
            F.col(f"items.{S.MOVIE_ID}").alias("movie_ids"),
            F.transform(f"items.{S.SCORE}", lambda s: s.cast("float")).alias("scores"),
            F.col(f"items.{S.REASON_TEXT}").alias("reasons"),
            F.col(f"items.{S.SLOT}").alias("slots"),
            F.lit(generated_at).alias("generated_at"),
            "segment",
        )))

    neighbours = (read_lists(cfg, spark, run_id, "full", "similar_movies")
                  .join(fields.withColumnRenamed(S.MOVIE_ID, "similar_movie_id"), "similar_movie_id", "left")
                  .withColumn("movie_key", _movie_key(version, S.MOVIE_ID)))
    neighbour = F.sort_array(F.collect_list(F.struct(
        S.RANK, F.col("similar_movie_id").alias(S.MOVIE_ID), S.SCORE, "title", "year", "genres", "poster_path")))
    similar = stage(neighbours, "movie_key", f"{path}/similar_movies", chunk_rows, lambda rows: (
        rows.groupBy(BUCKET, "movie_key").agg(neighbour.alias("items")).select(BUCKET, "movie_key", *_item_fields("items"))))

    cards = stage(movies.select(
        _movie_key(version, S.MOVIE_ID).alias("movie_key"),
        F.coalesce("title", F.lit("")).alias("title"),
        F.coalesce(F.col("year").cast("long"), F.lit(0)).alias("year"),
        F.coalesce("genres", F.array().cast("array<string>")).alias("genres"),
        F.coalesce("overview", F.lit("")).alias("overview"),
        F.col("runtime").cast("double").alias("runtime"),
        F.col("vote_average").cast("double").alias("vote_average"),
        F.coalesce("poster_path", F.lit("")).alias("poster_path"),
        F.coalesce("director", F.lit("")).alias("director"),
    ), "movie_key", f"{path}/movie_cards", chunk_rows)
    return Version(version, lists, similar, cards, withheld)


def _segment_pointers(cfg: Config, spark: SparkSession, run_id: str, state: dict, version: str,
                      withheld: tuple[str, ...]) -> DataFrame:
    """(list_key, segment) of every variant for each user the users table knows who has no list of their own: the
    API serves them their segment's list (one row per user points to it; the list is stored once)."""
    segments = cfg.models.segments
    users = lake.read(spark, cfg.table_path("silver", "users"), state["silver_versions"]["users"])
    listed = read_lists(cfg, spark, run_id, "full", "ranked_lists").where(F.col(S.USER_ID) >= 0).select(S.USER_ID).distinct()

    def names(batches):
        for batch in batches:
            yield pd.DataFrame({S.USER_ID: batch[S.USER_ID], "segment": segment_names(batch, segments)})

    pointers = (users.select(S.USER_ID, *profile_columns(users.columns, segments)).join(listed, S.USER_ID, "left_anti")
                .mapInPandas(names, f"{S.USER_ID} long, segment string"))
    variants = spark.createDataFrame([(v,) for v in cfg.experiment.variants if v not in withheld], "variant string")
    return pointers.crossJoin(variants).select(
        F.concat(F.lit(f"{version}:"), F.col("variant"), F.lit(":"), F.col(S.USER_ID).cast("string")).alias("list_key"),
        "segment")


def _chunks(rows: Rows, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if isinstance(rows, Staged):
        yield from rows.chunks()
        return
    for start in range(0, len(rows), chunk_rows):
        yield rows.iloc[start:start + chunk_rows]


def _has_fallback(lists: Rows) -> bool:
    fallback = f":{FALLBACK}"
    if isinstance(lists, Staged):
        return lists.rows > 0 and not lists.spark.read.parquet(lists.path).where(
            F.col("list_key").endswith(fallback)).isEmpty()
    return bool(lists["list_key"].str.endswith(fallback).any())


def served_similar(chunk: pd.DataFrame, key: str, poster_base: str) -> pd.DataFrame:
    """A chunk of staged similar-movie lists as the API reads them: the items encoded once here, not on every
    request."""
    served = pd.DataFrame({key: chunk[key].to_numpy(), "movie_ids": chunk["movie_ids"].to_numpy()})
    served["items"] = pd.Series(encode_items(chunk, poster_base), dtype=object)
    return served


def served_lists(chunk: pd.DataFrame) -> pd.DataFrame:
    """A chunk of staged user lists as the online store holds them (features/repo.py, user_recommendations)."""
    reasons, reason_ids = reason_codes(chunk["reasons"])
    return pd.DataFrame({
        "list_key": chunk["list_key"].to_numpy(), "movie_ids": chunk["movie_ids"].to_numpy(),
        "scores": chunk["scores"].to_numpy(), "reasons": pd.Series(reasons, dtype=object).to_numpy(),
        "reason_ids": pd.Series(reason_ids, dtype=object).to_numpy(), "slots": chunk["slots"].to_numpy(),
        "generated_at": chunk["generated_at"].to_numpy(),
        "segment": chunk["segment"].to_numpy() if "segment" in chunk else "",
    })


def catalogue(cards: Rows, version: str, poster_base: str, chunk_rows: int) -> pd.DataFrame:
    """The version's catalogue row: every movie's card fields as its list items show them. It grows with the
    movies, not the users, and the API reads it once a version."""
    ids, fragments = [], []
    for chunk in _chunks(cards, chunk_rows):
        movies = chunk["movie_key"].str.slice(len(version) + 1).astype("int64")
        ids.extend(movies.tolist())
        fragments.extend(encode_cards(movies, chunk["title"], chunk["year"],
                                      [GENRE_SEPARATOR.join(g) for g in chunk["genres"]], chunk["poster_path"],
                                      poster_base))
    return pd.DataFrame({"manifest_id": [catalogue_key(version)], "movie_ids": [ids], "cards": [fragments]})


def _write_view(writer: OnlineWriter, view: str, rows: Rows, key: str, version: str, now: pd.Timestamp, snapshot: Path,
                chunk_rows: int, write_rows: int, shape: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> dict:
    """Write `rows` (each chunk through `shape`) to the online store (`write_rows` at a time) and as part files
    under `snapshot`, a chunk at a time; return rows written, chunks, the largest chunk, seconds (all, and in
    the store's writes) and rows/s."""
    start = time.perf_counter()
    written = chunks = largest = 0
    store_seconds = 0.0
    with Progress(f"publishing {view}", "rows", rows.rows if isinstance(rows, Staged) else len(rows)) as progress:
        for chunk in _chunks(rows, chunk_rows):
            _check_keys(chunk[key], version)
            chunk = shape(chunk) if shape else chunk
            began = time.perf_counter()
            # The protos of a slice are held at once (and all of it by Feast's own path): a slice at a time.
            for first in range(0, len(chunk), write_rows):
                writer.write(view, chunk.iloc[first:first + write_rows], key, now)
                progress.advance(min(write_rows, len(chunk) - first))
            store_seconds += time.perf_counter() - began
            chunk = chunk.assign(event_timestamp=now)
            chunk.to_parquet(snapshot / f"part-{chunks:05d}.parquet", index=False)
            written, chunks, largest = written + len(chunk), chunks + 1, max(largest, len(chunk))
            del chunk  # not held while the next chunk is read
    seconds = time.perf_counter() - start
    rate = written / seconds if seconds > 0 else 0.0
    log.info("published %s: %d rows in %d chunks (largest %d) in %.1f s (%.1f s in the store's writes), %.0f rows/s",
             view, written, chunks, largest, seconds, store_seconds, rate)
    return {"rows": written, "chunks": chunks, "largest_chunk": largest, "seconds": round(seconds, 3),
            "store_seconds": round(store_seconds, 3), "rows_per_second": round(rate, 1)}


def _check_keys(keys: pd.Series, version: str) -> None:
    """Pruning finds a version's rows by their key prefix: rows keyed for another version would never go."""
    foreign = keys[~keys.str.startswith(f"{version}:")]
    if len(foreign):
        raise PublishRefused(f"version {version} holds keys of another version, e.g. {foreign.iloc[0]!r}")


def _replace_snapshot(staged: Path, target: Path) -> None:
    """Put the new snapshot folder where the view's FileSource reads (a single file before chunked publishes)."""
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    staged.rename(target)


def _manifest_frame(rows: dict[str, Manifest], now: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame({
        "manifest_id": list(rows), "version": [m.version for m in rows.values()],
        "published_at": [m.published_at for m in rows.values()], "experiment": [m.experiment for m in rows.values()],
        "variants": [list(m.variants) for m in rows.values()], "weights": [list(m.weights) for m in rows.values()],
        "versions": [[] for _ in rows], "event_timestamp": now,
    })


def assignment(cfg: Config, withheld: tuple[str, ...] = ()) -> tuple[list[str], list[float]]:
    """The manifest's (variants, weights): one entry per configured arm, in order, so serving's hash ranges
    (serving.variants.assign) stay where they were; a withheld arm's range names the control, which its users
    are served until a version publishes the arm again. Users of the other arms never move."""
    arms = cfg.experiment.variants
    return [cfg.experiment.control if v in withheld else v for v in arms], [arms[v].weight for v in arms]


def go_live(store, repo: Path, manifest: Manifest) -> None:
    """Serve `manifest`'s version: write its release row (what `movierec rollback` flips back to), then the row
    readers read. Shared by publish and rollback, so both flip the same way."""
    now = pd.Timestamp(datetime.now(UTC))
    store.write_to_online_store("publish_manifest", _manifest_frame({release_key(manifest.version): manifest}, now))
    current = _manifest_frame({CURRENT: manifest}, now)
    current.to_parquet(repo / "data" / "publish_manifest.parquet", index=False)
    store.write_to_online_store("publish_manifest", current)


def _record_held(store, held: list[str]) -> None:
    """Record which versions the online store holds (the manifest's row "held"; readers never read it)."""
    store.write_to_online_store("publish_manifest", pd.DataFrame({
        "manifest_id": [HELD], "version": [""], "published_at": [""], "experiment": [""], "variants": [[]],
        "weights": [[]], "versions": [held], "event_timestamp": [pd.Timestamp(datetime.now(UTC))],
    }))


def versions_to_prune(held: list[str], keep: int, protected: set[str]) -> list[str]:
    """Versions of `held` (newest first) beyond the newest `keep`, but never one of `protected`: the version
    going live and the one live until now, which a reader with a manifest read seconds ago still asks for."""
    return [v for v in held[keep:] if v not in protected]


def write_version(cfg: Config, published: Version, chunk_rows: int | None = None) -> dict:
    """Write every view of `published` a chunk at a time, flip the manifest to it, then prune versions beyond
    `publish.keep_versions`; return what was written (rows, chunks and rows/s per view) and pruned.

    Shared by the publish step and the benches, so they measure and serve what the pipeline publishes.
    In-memory rows are written in chunks of `chunk_rows` (default `publish.chunk_rows`), staged rows in their
    buckets; each chunk goes to the store `publish.write_rows` rows at a time.
    """
    from features.repo import definitions

    chunk_rows = chunk_rows or cfg.publish.chunk_rows
    repo = write_repo_files(cfg)
    for leftover in (repo / "data").glob(".*.parquet.*"):
        shutil.rmtree(leftover, ignore_errors=True)  # half-built snapshots of a publish that was killed
    store = open_store(cfg)
    store.apply(definitions(cfg))
    use_wal(store)
    if not _has_fallback(published.lists):
        raise PublishRefused(f"version {published.name} has no fallback list: re-run the score step")
    lists = OnlineLists(store)
    live = lists.manifest()
    held = [published.name, *(v for v in lists.versions() if v != published.name)]
    # Recorded before any row is written, so rows of a publish that fails half-way are pruned by a later one.
    _record_held(store, held)
    now = pd.Timestamp(datetime.now(UTC))
    views, snapshots = {}, {}
    writer = OnlineWriter(store)
    try:
        base = cfg.serving.poster_base_url
        for view, rows, key, shape in (
                ("user_recommendations", published.lists, "list_key", served_lists),
                ("similar_movies", published.similar, "movie_key", partial(served_similar, key="movie_key",
                                                                          poster_base=base)),
                ("movie_cards", published.cards, "movie_key", None),
                # Built when its turn comes: from the cards, which are read again (they grow with movies, not users).
                ("list_catalogue", partial(catalogue, published.cards, published.name, base, chunk_rows), "manifest_id",
                 None)):
            # Offline snapshots of what is served, for Feast's offline store (history stays in gold tables);
            # built beside the served one (hidden from readers of the folder) and swapped in with the manifest.
            snapshots[view] = repo / "data" / f".{view}.parquet.{uuid.uuid4().hex[:8]}"
            snapshots[view].mkdir(parents=True)
            rows = rows() if callable(rows) else rows
            views[view] = _write_view(writer, view, rows, key, published.name, now, snapshots[view], chunk_rows,
                                      cfg.publish.write_rows, shape)
        manifest = Manifest(published.name, now.isoformat(), cfg.experiment.name, *assignment(cfg, published.withheld))
        go_live(store, repo, manifest)
        for view, staged in snapshots.items():
            _replace_snapshot(staged, repo / "data" / f"{view}.parquet")
    finally:
        writer.close()
        for staged in snapshots.values():
            shutil.rmtree(staged, ignore_errors=True)
    rows = sum(v["rows"] for v in views.values())
    seconds = sum(v["seconds"] for v in views.values())
    result = {"published": True, "version": published.name, "lists": views["user_recommendations"]["rows"],
              "similar_movies": views["similar_movies"]["rows"], "movie_cards": views["movie_cards"]["rows"],
              "variants": manifest.arms,
              "withheld": list(published.withheld), "published_at": now.isoformat(), "views": views,
              "rows_per_second": round(rows / seconds, 1) if seconds > 0 else 0.0}
    log.info("published version %s: %d rows in %.1f s, %.0f rows/s", published.name, rows, seconds,
             result["rows_per_second"])
    protected = {published.name, *([live.version] if live is not None else [])}
    return {**result, **_prune(cfg, store, held, protected)}


def _prune(cfg: Config, store, held: list[str], protected: set[str]) -> dict:
    """Delete the versions beyond `publish.keep_versions`, then record that the store no longer holds them.

    They stay recorded until their rows are gone, so a prune that fails is retried by the next publish; the
    publish itself has succeeded by then (the new version is live), so a failure is reported, not raised.
    """
    victims = versions_to_prune(held, cfg.publish.keep_versions, protected)
    if not victims:
        return {"pruned": [], "pruned_rows": 0, "prune_seconds": 0.0}
    start = time.perf_counter()
    try:
        deleted = delete_versions(store, victims)
        _record_held(store, [v for v in held if v not in victims])
    except Exception as exc:  # any store error: the live version is untouched and the next publish retries
        log.exception("pruning versions %s failed; the next publish retries", victims)
        return {"pruned": [], "pruned_rows": 0, "prune_seconds": round(time.perf_counter() - start, 3),
                "prune_error": f"{type(exc).__name__}: {exc}"}
    seconds = time.perf_counter() - start
    log.info("pruned versions %s: %d %s deleted in %.1f s", victims, deleted,
             "keys" if cfg.feast.online_store == "redis" else "rows", seconds)
    return {"pruned": victims, "pruned_rows": deleted, "prune_seconds": round(seconds, 3)}


def _remove(spark: SparkSession, location: str) -> None:
    """Delete a folder on whatever file system Spark writes the lake to."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(location)
    path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)


def publish(cfg: Config, spark: SparkSession, run_id: str) -> dict:
    """Publish `run_id` if its gates passed; return {"published": bool, "version": ..., ...}."""
    state = runs.load_state(cfg, run_id)
    evaluation = state.get("evaluation")
    if evaluation is None:
        raise PublishRefused(f"run {run_id} has not been evaluated: run the evaluate step first")
    if not evaluation["gates"]["passed"]:
        failed = [c["gate"] for c in evaluation["gates"]["checks"] if not c["passed"]]
        result = {"published": False, "version": None, "reason": "gates failed: " + "; ".join(failed)}
        record_outcome(cfg, evaluation["mlflow_run_id"], None)
        runs.update_state(cfg, run_id, publish=result)
        return result

    staging = cfg.table_path("staging", f"publish-{run_id}")
    try:
        start = time.perf_counter()
        with spark_tasks(spark, "staging the version's lists"):
            version = stage_version(cfg, spark, run_id, state, version=run_id, path=staging)
        staged_seconds = time.perf_counter() - start
        result = write_version(cfg, version)
    finally:
        _remove(spark, staging)
    result["stage_seconds"] = round(staged_seconds, 3)
    _log(cfg, spark, run_id, result)
    result["champion_ranker_version"] = record_outcome(cfg, evaluation["mlflow_run_id"], result["version"],
                                                       ranker_file=model_path(cfg, run_id, "full").parent / "ranker.ubj")
    runs.update_state(cfg, run_id, publish=result)
    return result


def _log(cfg: Config, spark: SparkSession, run_id: str, result: dict) -> None:
    row = spark.createDataFrame([(run_id, result["version"], result["lists"], result["published_at"])],
                                f"{S.RUN_ID} string, version string, lists long, published_at string")
    row.write.format("delta").mode("append").save(cfg.table_path("gold", "publish_log"))
