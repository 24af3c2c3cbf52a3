"""Ingest: sources -> bronze (raw lines, by batch) -> silver (typed, deduplicated) + quarantine.

Bronze keeps every line as received under a deterministic batch id, so re-running a batch
replaces it. Silver interactions are MERGEd on event_id (insert-only: events are immutable),
movies and users are upserted on their ids. Rows failing a rule land in quarantine with the
rule's name; nothing is dropped silently: read = landed + duplicates + quarantined + held, where
`held` counts events for movies not in silver yet: they wait in quarantine/held_events and land
with the first ingest that knows their movie (`released`). Lines of forgotten users never reach bronze:
they are dropped as they arrive and counted as `suppressed` (see jobs/suppression.py). Then the
table's Great Expectations suite (data_contracts/suites.py) judges the batch about to land; a
failing batch, or one where too many rows failed the row rules, stops the ingest before silver
is touched. Validation results are saved under <workdir>/validations/<batch_id>/.

Interactions are partitioned by month, not day: a backfill of MovieLens' 22 years would
otherwise write ~4,000 tiny partitions, and Delta's per-file statistics on event_date still
let a one-day rewrite skip the other days' files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta, UTC
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from conf import Config
from data_contracts import rules
from data_contracts import columns as S
from data_contracts.schema import EVENT_SCHEMA, MOVIE_SCHEMA, USER_SCHEMA
from jobs import lake
from jobs.bronze import LINEAGE, Landing, from_json_or_null, to_bronze
from jobs.errors import ContractViolation, PipelineError
from jobs.exposures import ingest_exposures
from jobs.quarantine import enforce_contract, quarantine_bad_rows
from jobs.sources import movielens, synthetic, tmdb
from jobs.sources.files import list_files, write_jsonl

HELD = "held_events"
log = logging.getLogger("movierec.ingest")


@dataclass(frozen=True)
class Interval:
    """A data interval [start, end) of whole days, as Airflow hands it to the daily ingest."""

    start: date
    end: date

    def __post_init__(self) -> None:
        # Plain dates: Airflow hands out pendulum dates, which Spark does not accept as DateType values.
        object.__setattr__(self, "start", date(self.start.year, self.start.month, self.start.day))
        object.__setattr__(self, "end", date(self.end.year, self.end.month, self.end.day))
        if self.end <= self.start:
            raise PipelineError(f"empty interval: {self.start} to {self.end}")

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days)]


@dataclass(frozen=True)
class TableCounts:
    read: int
    landed: int
    duplicates: int
    quarantined: int
    inserted: int
    by_rule: dict[str, int]
    contract: str = ""           # where the batch's validation result is saved
    held: int = 0                # events for movies silver does not know yet, kept in quarantine/held_events
    released: int = 0            # held events of earlier batches whose movie is now known: landed with this one
    unchanged_since: str = ""    # a snapshot (movies, users) not read again: same files as this batch
    suppressed: int = 0          # lines of forgotten users, dropped before bronze (not counted in `read`)


def land(cfg: Config) -> Landing:
    """Prepare the source's files: generate synthetic data, or convert MovieLens metadata."""
    out = Path(cfg.workdir) / "landing" / cfg.source.kind
    if cfg.source.kind == "synthetic":
        paths = synthetic.write_synthetic(cfg.synthetic, cfg.seed, out)
        return Landing("synthetic", str(paths["events"]), "files", str(paths["movies"]), str(paths["users"]))
    if cfg.source.kind == "files":
        movies = Path(cfg.source.movies_path)
        if movies.is_dir():  # the TMDB 5000 CSVs
            movies = write_jsonl(out / "movies.jsonl", list(movielens.read_tmdb_5000(movies).values()))
        return Landing("files", cfg.source.events_dir, "files", str(movies), cfg.source.users_path)
    data_dir = Path(cfg.source.data_dir)
    ratings = movielens.find_ratings(data_dir)
    tmdb_dir = Path(cfg.source.tmdb_dir) if cfg.source.tmdb_dir else None
    movies_path = write_jsonl(out / "movies.jsonl", movielens.movie_documents(data_dir, tmdb_dir))
    users = movielens.user_documents(data_dir)
    users_path = str(write_jsonl(out / "users.jsonl", users)) if users else None
    return Landing("movielens", str(ratings.path), f"ml_{ratings.layout}", str(movies_path), users_path)


def event_paths(landing: Landing, interval: Interval | None) -> list[str]:
    """The event files to read: everything, or the days of `interval` from a log split by arrival day.

    An event lands in silver by its own timestamp, so a late event read with a later day's log
    joins its own day in silver."""
    if interval is None:
        return [landing.events_path]
    folder = Path(landing.events_path)
    if not folder.is_dir():
        raise PipelineError(f"{landing.events_path} is one file: ingesting by day needs an event log split into "
                            f"dt=YYYY-MM-DD folders; ingest it whole with `movierec ingest` (no --date)")
    days = (folder / f"dt={day.isoformat()}" for day in interval.days())
    return [str(day) for day in days if day.is_dir()]


def fingerprint(paths: list[str]) -> str:
    """Of the files under `paths`: name, size and first MiB of each."""
    digest = hashlib.sha1()
    for path in list_files(paths):
        digest.update(f"{path.name}:{path.stat().st_size}".encode())
        with open(path, "rb") as fh:
            digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:16]


def batch_id_for(landing: Landing, events: list[str], interval: Interval | None = None) -> str:
    """The files read plus the interval: re-ingesting the same files replaces their batch in bronze
    instead of adding another one."""
    days = f"-{interval.start:%Y%m%d}-{interval.end:%Y%m%d}" if interval else ""
    return f"{landing.source}{days}-{fingerprint([*events, landing.movies_path, *filter(None, [landing.users_path])])}"


def _unchanged(cfg: Config, table: str, files: str) -> TableCounts | None:
    """Counts for a snapshot table whose files are the ones its last batch landed; None if they changed."""
    previous = _previous_volumes(cfg).get(table)
    if previous is None or previous.get("files") != files:
        return None
    return TableCounts(read=0, landed=0, duplicates=0, quarantined=0, inserted=0, by_rule={},
                       unchanged_since=previous["batch_id"])


def parse_events(bronze: DataFrame, fmt: str) -> DataFrame:
    """Bronze event lines -> typed event columns plus `_parsed` (null when the line is unreadable)."""
    payload = F.col(S.PAYLOAD)
    if fmt in ("jsonl", "files"):
        fields = T.StructType([
            T.StructField(S.EVENT_ID, T.StringType()), T.StructField(S.USER_ID, T.StringType()),
            T.StructField(S.MOVIE_ID, T.StringType()), T.StructField(S.EVENT_TYPE, T.StringType()),
            T.StructField(S.VALUE, T.StringType()), T.StructField(S.WATCH_SECONDS, T.StringType()),
            T.StructField(S.DEVICE, T.StringType()), T.StructField(S.TS, T.StringType()),
        ])
        parsed = bronze.withColumn("_parsed", from_json_or_null(payload, fields))
        return parsed.select(
            "*",
            F.col(f"_parsed.{S.EVENT_ID}").alias(S.EVENT_ID),
            F.col(f"_parsed.{S.USER_ID}").try_cast("bigint").alias(S.USER_ID),
            F.col(f"_parsed.{S.MOVIE_ID}").try_cast("bigint").alias(S.MOVIE_ID),
            F.lower(F.col(f"_parsed.{S.EVENT_TYPE}")).alias(S.EVENT_TYPE),
            F.col(f"_parsed.{S.VALUE}").try_cast("double").alias(S.VALUE),
            F.col(f"_parsed.{S.WATCH_SECONDS}").try_cast("double").alias(S.WATCH_SECONDS),
            F.col(f"_parsed.{S.DEVICE}").alias(S.DEVICE),
            F.try_to_timestamp(F.col(f"_parsed.{S.TS}")).alias(S.TS),
        )
    separator = "," if fmt == "ml_csv" else "::"
    parts = F.split(payload, separator if separator == "," else ":{2}")
    ok = F.size(parts) == 4
    user = F.when(ok, parts[0]).try_cast("bigint")
    movie = F.when(ok, parts[1]).try_cast("bigint")
    rating = F.when(ok, parts[2]).try_cast("double")
    seconds = F.when(ok, parts[3]).try_cast("bigint")
    # A user's ratings of the same second, numbered in the file's order: the event id orders them (training reads
    # events by user, time, event id), as the sequential models' published protocol keeps them (a stable sort by
    # time). Half of MovieLens-1M's ratings share their second with another of the user's. A line delivered twice
    # gets its first copy's number, hence its id, and is deduplicated.
    first = "_first_line"
    bronze = bronze.withColumn(first, F.min(S.SOURCE_LINE).over(Window.partitionBy(user, movie, seconds)))
    tie = F.dense_rank().over(Window.partitionBy(user, seconds).orderBy(first))
    return bronze.select(
        "*",
        F.when(ok, F.lit(True)).alias("_parsed"),
        F.when(ok, F.concat_ws(":", F.lit("ml"), user, seconds, F.lpad(tie.cast("string"), 6, "0"))).alias(S.EVENT_ID),
        user.alias(S.USER_ID),
        movie.alias(S.MOVIE_ID),
        F.when(ok, F.lit("rating")).alias(S.EVENT_TYPE),
        rating.alias(S.VALUE),
        F.lit(None).cast("double").alias(S.WATCH_SECONDS),
        F.lit(None).cast("string").alias(S.DEVICE),
        F.timestamp_seconds(seconds).alias(S.TS),
    ).drop(first)


def parse_movies(bronze: DataFrame) -> DataFrame:
    """TMDB-shaped JSON documents -> silver movie columns (MOVIE_SCHEMA) plus `_parsed`."""
    named = T.ArrayType(T.StructType([T.StructField("name", T.StringType())]))
    doc = T.StructType([
        T.StructField("movie_id", T.StringType()), T.StructField("id", T.StringType()),
        T.StructField("title", T.StringType()), T.StructField("year", T.StringType()),
        T.StructField("overview", T.StringType()), T.StructField("release_date", T.StringType()),
        T.StructField("genres", named),
        T.StructField("keywords", T.StructType([T.StructField("keywords", named)])),
        T.StructField("credits", T.StructType([
            T.StructField("cast", T.ArrayType(T.StructType([T.StructField("name", T.StringType()), T.StructField("order", T.IntegerType())]))),
            T.StructField("crew", T.ArrayType(T.StructType([T.StructField("name", T.StringType()), T.StructField("job", T.StringType())]))),
        ])),
        T.StructField("runtime", T.StringType()), T.StructField("vote_average", T.StringType()),
        T.StructField("vote_count", T.StringType()), T.StructField("popularity", T.StringType()),
        T.StructField("adult", T.StringType()), T.StructField("poster_path", T.StringType()),
        T.StructField("deleted", T.StringType()), T.StructField("updated_at", T.StringType()),
    ])
    p = "_parsed"
    parsed = bronze.withColumn(p, from_json_or_null(F.col(S.PAYLOAD), doc))
    release = F.to_date(F.try_to_timestamp(F.col(f"{p}.release_date")))
    directors = F.filter(F.col(f"{p}.credits.crew"), lambda c: c["job"] == "Director")
    deleted = F.coalesce(F.col(f"{p}.deleted").try_cast("boolean"), F.lit(False))
    return parsed.select(
        "*",
        F.coalesce(F.col(f"{p}.movie_id"), F.col(f"{p}.id")).try_cast("bigint").alias(S.MOVIE_ID),
        F.col(f"{p}.id").try_cast("bigint").alias("tmdb_id"),
        # A tombstone is an id alone: it retires a movie and never lands as one (see lake.merge_versions).
        F.when(deleted, F.coalesce(F.col(f"{p}.title"), F.lit(""))).otherwise(F.col(f"{p}.title")).alias("title"),
        F.coalesce(F.col(f"{p}.year").try_cast("int"), F.year(release)).alias("year"),
        F.transform(F.col(f"{p}.genres"), lambda g: g["name"]).alias("genres"),
        F.col(f"{p}.overview").alias("overview"),
        F.transform(F.col(f"{p}.keywords.keywords"), lambda k: k["name"]).alias("keywords"),
        F.transform(F.slice(F.col(f"{p}.credits.cast"), 1, 10), lambda c: c["name"]).alias("cast"),
        F.element_at(directors, 1)["name"].alias("director"),
        F.col(f"{p}.runtime").try_cast("double").alias("runtime"),
        F.col(f"{p}.vote_average").try_cast("double").alias("vote_average"),
        F.col(f"{p}.vote_count").try_cast("bigint").alias("vote_count"),
        F.col(f"{p}.popularity").try_cast("double").alias("popularity"),
        release.alias("release_date"),
        F.coalesce(F.col(f"{p}.adult").try_cast("boolean"), F.lit(False)).alias("adult"),
        F.col(f"{p}.poster_path").alias("poster_path"),
        deleted.alias("deleted"),
        F.coalesce(F.try_to_timestamp(F.col(f"{p}.updated_at")), F.col(S.INGESTED_AT)).alias("updated_at"),
    )


def parse_users(bronze: DataFrame) -> DataFrame:
    doc = T.StructType([T.StructField(c, T.StringType()) for c in ("user_id", "gender", "age", "occupation", "signup_ts")])
    p = "_parsed"
    parsed = bronze.withColumn(p, from_json_or_null(F.col(S.PAYLOAD), doc))
    return parsed.select(
        "*",
        F.col(f"{p}.user_id").try_cast("bigint").alias(S.USER_ID),
        F.col(f"{p}.gender").alias("gender"),
        F.col(f"{p}.age").try_cast("int").alias("age"),
        F.col(f"{p}.occupation").alias("occupation"),
        F.try_to_timestamp(F.col(f"{p}.signup_ts")).alias("signup_ts"),
    )


def _previous_volumes(cfg: Config) -> dict:
    path = cfg.validations_dir / "volumes.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _record_volume(cfg: Config, table: str, batch_id: str, landed: int, files: str) -> None:
    volumes = _previous_volumes(cfg)
    volumes[table] = {"batch_id": batch_id, "landed": landed, "files": files}
    cfg.validations_dir.mkdir(parents=True, exist_ok=True)
    (cfg.validations_dir / "volumes.json").write_text(json.dumps(volumes, indent=1))


def _min_rows(cfg: Config, table: str, batch_id: str) -> int:
    """At least one row; and, after a previous batch of this table, `min_volume_ratio` of its volume."""
    previous = _previous_volumes(cfg).get(table)
    if previous is None or previous["batch_id"] == batch_id:
        return 1
    return max(1, math.ceil(previous["landed"] * cfg.contracts.min_volume_ratio))


def _hold_unknown_movies(spark: SparkSession, cfg: Config, events: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(events to land, this batch's events to hold, held events released now): events whose movie
    silver does not know wait; earlier held events whose movie has arrived join this batch."""
    movies = lake.read(spark, cfg.table_path("silver", "movies")).select(S.MOVIE_ID)
    known = events.join(movies, S.MOVIE_ID, "left_semi")
    hold = events.join(movies, S.MOVIE_ID, "left_anti")
    held_path = cfg.table_path("quarantine", HELD)
    if lake.exists(spark, held_path):
        released = (lake.read(spark, held_path).drop(S.REASON).join(movies, S.MOVIE_ID, "left_semi")
                    .join(known.select(S.EVENT_ID), S.EVENT_ID, "left_anti"))
    else:
        released = events.limit(0)
    return known.unionByName(released.select(*events.columns)), hold, released


def _settle_held(spark: SparkSession, cfg: Config, hold: DataFrame, released: list[str]) -> None:
    """Add this batch's held events (once each: a rerun adds nothing) and drop the released ones."""
    path = cfg.table_path("quarantine", HELD)
    if not hold.isEmpty():
        lake.merge_insert_new(spark, hold.withColumn(S.REASON, F.lit("unknown_movie")), path, [S.EVENT_ID])
    if released:
        from delta.tables import DeltaTable

        ids = spark.createDataFrame([(i,) for i in released], f"{S.EVENT_ID} string")
        (DeltaTable.forPath(spark, path).alias("t").merge(ids.alias("s"), f"t.{S.EVENT_ID} = s.{S.EVENT_ID}")
         .whenMatchedDelete().execute())


def _land_table(cfg: Config, spark: SparkSession, name: str, parsed: DataFrame, table_rules, schema: T.StructType,
                key: str, batch_id: str, *, insert_only: bool, dedupe_order: str | None = None, files: str = "",
                fresh_after: datetime | None = None, versioned: bool = False, check_volume: bool = True) -> TableCounts:
    checked, read, by_rule = quarantine_bad_rows(cfg, parsed, table_rules, name, batch_id)
    quarantined = sum(by_rule.values())
    valid_rows = read - quarantined
    valid = checked.where(F.col(S.REASON).isNull()).select(*[f.name for f in schema.fields], *LINEAGE)
    if dedupe_order:
        # Latest version of a key wins inside one batch.
        window = Window.partitionBy(key).orderBy(F.col(dedupe_order).desc_nulls_last())
        deduped = valid.withColumn("_n", F.row_number().over(window)).where("_n = 1").drop("_n")
    else:
        deduped = valid.dropDuplicates([key])
    if insert_only:
        deduped = (deduped.withColumn(S.EVENT_DATE, F.to_date(S.TS))
                   .withColumn(S.EVENT_MONTH, F.date_format(S.TS, "yyyy-MM")))
    deduped = deduped.cache()
    landed = deduped.count()
    cached = [checked, deduped]
    hold, released = None, []
    if insert_only:
        deduped, hold, released_rows = _hold_unknown_movies(spark, cfg, deduped)
        cached += [deduped.cache(), hold.cache()]
        released = [r[S.EVENT_ID] for r in released_rows.select(S.EVENT_ID).collect()]
        landed -= hold.count()
    # Change feeds (TMDB's) are bursty and may be empty: only snapshots and logs have a volume floor.
    min_rows = _min_rows(cfg, name, batch_id) if check_volume else 0
    saved = enforce_contract(cfg, deduped, name, schema, batch_id, min_rows, fresh_after, release=tuple(cached))
    target = cfg.table_path("silver", name)
    if insert_only:
        inserted = lake.merge_insert_new(spark, deduped, target, [key], partition_by=[S.EVENT_MONTH])
        _settle_held(spark, cfg, hold, released)
    elif versioned:
        inserted = lake.merge_versions(spark, deduped, target, key, ignore_changes=LINEAGE)
    else:
        inserted = lake.merge_upsert(spark, deduped, target, [key], ignore_changes=LINEAGE)
    held = 0 if hold is None else hold.count()
    for frame in cached:
        frame.unpersist()
    if check_volume:
        _record_volume(cfg, name, batch_id, landed, files)
    return TableCounts(read=read, landed=landed, duplicates=valid_rows - landed - held, quarantined=quarantined,
                       inserted=inserted, by_rule=by_rule, contract=str(saved), held=held, released=len(released))


def tmdb_watermark(cfg: Config, spark: SparkSession) -> date | None:
    """The day after the last day of TMDB changes fetched: where the next fetch starts."""
    path = cfg.table_path("state", "tmdb_log")
    if not lake.exists(spark, path):
        return None
    return lake.read(spark, path).agg(F.max("until")).first()[0]


def _tmdb_changes(cfg: Config, spark: SparkSession, interval: Interval, landing: Landing, batch_id: str,
                  client: tmdb.TmdbClient | None) -> dict:
    """Fetch TMDB's movie changes from the TMDB watermark to the end of `interval` and upsert them:
    newer versions replace older ones, tombstones retire movies, adult titles stay out unless asked for."""
    since = tmdb_watermark(cfg, spark) or interval.start
    if since >= interval.end:
        return {"since": since.isoformat(), "until": interval.end.isoformat(), "fetched": {}, "up_to_date": True}
    out = Path(cfg.workdir) / "landing" / "tmdb" / f"changes-{since}-{interval.end}.jsonl"
    client = client or tmdb.client_from_env(cfg.source.tmdb_base_url)
    fetched = tmdb.write_changes(client, since, interval.end - timedelta(days=1), out, cfg.source.tmdb_include_adult)
    result: dict = {"since": since.isoformat(), "until": interval.end.isoformat(), "fetched": fetched}
    if fetched["written"] + fetched["deleted"]:
        changes_batch = f"{batch_id}-tmdb"
        bronze, _ = to_bronze(spark, cfg, "movies", [str(out)], "json", landing, changes_batch)
        result |= asdict(_land_table(cfg, spark, "movies", parse_movies(bronze), rules.movie_rules(), MOVIE_SCHEMA,
                                     S.MOVIE_ID, changes_batch, insert_only=False, dedupe_order="updated_at",
                                     versioned=True, check_volume=False))
    row = spark.createDataFrame([(since, interval.end, json.dumps(fetched), datetime.now(UTC))],
                                "since date, until date, fetched string, finished_at timestamp")
    lake.replace_where(row, cfg.table_path("state", "tmdb_log"), {"since": since.isoformat()})
    return result


def ingest(cfg: Config, spark: SparkSession, interval: Interval | None = None,
           tmdb_client: tmdb.TmdbClient | None = None) -> dict:
    """Run the configured source through bronze into silver; return per-table counts.

    With `interval`, only the events logged in those days are read (movies and users are
    snapshots, upserted whole); the interval is then recorded in the ingest log, whose latest
    end is the watermark. With `source.tmdb_changes`, TMDB's changes since its own watermark are
    fetched (through `tmdb_client`, or one built from the environment) and upserted too."""
    landing = land(cfg)
    events = event_paths(landing, interval)
    batch_id = batch_id_for(landing, events, interval)
    report: dict = {"batch_id": batch_id, "source": landing.source, "tables": {},
                    "interval": [interval.start.isoformat(), interval.end.isoformat()] if interval else None}

    # Movies and users are snapshots: a daily ingest reads them again only when their files changed.
    movie_files = fingerprint([landing.movies_path])
    report["tables"]["movies"] = asdict((interval and _unchanged(cfg, "movies", movie_files)) or _land_table(
        cfg, spark, "movies", parse_movies(to_bronze(spark, cfg, "movies", [landing.movies_path], "json", landing, batch_id)[0]),
        rules.movie_rules(), MOVIE_SCHEMA, S.MOVIE_ID, batch_id, insert_only=False, dedupe_order="updated_at",
        versioned=True, files=movie_files))

    if interval and cfg.source.tmdb_changes:
        report["tmdb"] = _tmdb_changes(cfg, spark, interval, landing, batch_id, tmdb_client)

    events_bronze, suppressed = to_bronze(spark, cfg, "events", events, landing.events_format, landing, batch_id)
    report["tables"]["interactions"] = asdict(replace(_land_table(
        cfg, spark, "interactions", parse_events(events_bronze, landing.events_format), rules.event_rules(),
        EVENT_SCHEMA, S.EVENT_ID, batch_id, insert_only=True, fresh_after=_fresh_after(cfg, interval)),
        suppressed=suppressed))

    if landing.users_path:
        user_files = fingerprint([landing.users_path])
        report["tables"]["users"] = asdict((interval and _unchanged(cfg, "users", user_files))
                                          or _land_users(spark, cfg, landing, batch_id, user_files))
    else:
        report["tables"]["users"] = asdict(_land_table(
            cfg, spark, "users", _users_from_events(spark, cfg, batch_id), rules.user_rules(), USER_SCHEMA, S.USER_ID,
            batch_id, insert_only=False))
    # What the API served (serving/exposures.py), for experiment readouts: the interval's days, or the whole log.
    # A bad exposure batch is quarantined and reported, and does not hold back the events that feed training.
    try:
        exposures = ingest_exposures(cfg, spark, batch_id, interval.days() if interval else None)
    except ContractViolation as exc:
        log.error("exposures not landed: %s", exc)
        report["exposures_error"] = str(exc)
    else:
        if exposures is not None:
            report["tables"]["exposures"] = exposures
    if interval:
        _log_interval(cfg, spark, interval, batch_id, report)
    return report


def _fresh_after(cfg: Config, interval: Interval | None) -> datetime | None:
    """A day's log must hold an event from within `contracts.max_event_lag_days` of its first day."""
    if interval is None:
        return None
    # Naive, like the timestamps Spark hands Great Expectations (the session time zone is UTC).
    start = datetime(interval.start.year, interval.start.month, interval.start.day)
    return start - timedelta(days=cfg.contracts.max_event_lag_days)


def _log_interval(cfg: Config, spark: SparkSession, interval: Interval, batch_id: str, report: dict) -> None:
    landed = {name: t["landed"] for name, t in report["tables"].items()}
    row = spark.createDataFrame([(interval.start, interval.end, batch_id, json.dumps(landed), datetime.now(UTC))],
                                "interval_start date, interval_end date, batch_id string, landed string, finished_at timestamp")
    lake.replace_where(row, cfg.table_path("state", "ingest_log"), {"interval_start": interval.start.isoformat()})


def ingested_days(cfg: Config, spark: SparkSession) -> set[date]:
    """Start days of the intervals ingested so far."""
    path = cfg.table_path("state", "ingest_log")
    if not lake.exists(spark, path):
        return set()
    return {r["interval_start"] for r in lake.read(spark, path).select("interval_start").collect()}


def _land_users(spark: SparkSession, cfg: Config, landing: Landing, batch_id: str, files: str) -> TableCounts:
    bronze, suppressed = to_bronze(spark, cfg, "users", [landing.users_path], "json", landing, batch_id)
    counts = _land_table(cfg, spark, "users", parse_users(bronze), rules.user_rules(), USER_SCHEMA, S.USER_ID, batch_id,
                         insert_only=False, files=files)
    return replace(counts, suppressed=suppressed)


def _users_from_events(spark: SparkSession, cfg: Config, batch_id: str) -> DataFrame:
    """Sources without a user file: every user seen in the events, with no profile."""
    events = lake.read(spark, cfg.table_path("silver", "interactions"))
    return events.select(S.USER_ID).distinct().select(
        F.lit(True).alias("_parsed"), S.USER_ID,
        F.lit(None).cast("string").alias("gender"), F.lit(None).cast("int").alias("age"),
        F.lit(None).cast("string").alias("occupation"), F.lit(None).cast("timestamp").alias("signup_ts"),
        F.to_json(F.struct(S.USER_ID)).alias(S.PAYLOAD), F.lit(None).cast("string").alias(S.SOURCE_FILE),
        F.lit(batch_id).alias(S.BATCH_ID), F.lit("derived").alias(S.SOURCE), F.current_timestamp().alias(S.INGESTED_AT),
    )
