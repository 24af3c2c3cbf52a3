"""Gold user and movie feature tables: point-in-time rows that Feast serves offline and online.

A row stamped T holds a feature's value over events before T, so a point-in-time join at any
time t picks the latest row with T <= t and sees nothing later. Days are UTC days: the row for
day d is stamped at the end of d (the start of d + 1). Rows exist only where a value can change:
each day with events, and each day an event falls out of a window (d + W for every window W);
between two rows nothing changes, so no TTL is needed and no row is repeated for quiet days.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from conf.settings import InteractionsConfig
from data_contracts import columns as S

DAY_SECONDS = 86400
EVENT_TIMESTAMP = "event_timestamp"


def _day(ts: Column) -> Column:
    return F.floor(F.unix_timestamp(ts) / DAY_SECONDS)


def _is_positive(cfg: InteractionsConfig) -> Column:
    """The same relevance rule as models.data.is_relevant: a positive event type, or a high rating."""
    rated_high = (F.col(S.EVENT_TYPE) == "rating") & (F.col(S.VALUE) >= cfg.min_relevant_rating)
    return F.col(S.EVENT_TYPE).isin(cfg.positive_event_types) | rated_high


def _daily(events: DataFrame, key: str, cfg: InteractionsConfig, extra: list[Column]) -> DataFrame:
    is_rating = F.col(S.EVENT_TYPE) == "rating"
    return events.groupBy(key, _day(F.col(S.TS)).alias("day")).agg(
        F.count("*").alias("n_events"),
        F.sum(_is_positive(cfg).cast("long")).alias("n_positives"),
        F.sum(F.when(is_rating, F.col(S.VALUE))).alias("rating_sum"),
        F.sum(is_rating.cast("long")).alias("n_ratings"),
        F.min(S.TS).alias("first_ts"),
        F.max(S.TS).alias("last_ts"),
        *extra,
    )


def _as_of_rows(daily: DataFrame, key: str, windows: list[int], sums: list[str]) -> DataFrame:
    """One row per (key, change day) with lifetime and windowed running totals of the daily `sums`."""
    points = (daily.select(key, F.explode(F.array(*[F.col("day") + offset for offset in (0, *windows)])).alias("day"))
              .distinct())
    grid = points.join(daily, [key, "day"], "left").fillna(0, subset=sums)
    history = Window.partitionBy(key).orderBy("day").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    columns = [F.col(key), F.col("day")]
    columns += [F.sum(c).over(history).alias(f"{c}_total") for c in sums]
    for w in windows:
        recent = Window.partitionBy(key).orderBy("day").rangeBetween(-(w - 1), 0)
        columns.append(F.sum("n_events").over(recent).alias(f"events_{w}d"))
    columns += [
        F.unix_timestamp(F.min("first_ts").over(history)).cast("double").alias("first_event_at"),
        F.unix_timestamp(F.max("last_ts").over(history)).cast("double").alias("last_event_at"),
    ]
    rows = grid.select(*columns)
    return rows.select(
        key, *[c for c in rows.columns if c not in (key, "day")],
        F.timestamp_seconds((F.col("day") + 1) * DAY_SECONDS).alias(EVENT_TIMESTAMP),
    )


def _avg_rating(frame: DataFrame) -> DataFrame:
    return (frame.withColumn("avg_rating", F.when(F.col("n_ratings_total") > 0,
                                                  F.col("rating_sum_total") / F.col("n_ratings_total")))
            .drop("rating_sum_total", "n_ratings_total")
            .withColumnRenamed("n_events_total", "events_total")
            .withColumnRenamed("n_positives_total", "positives_total"))


def user_features(events: DataFrame, movies: DataFrame, users: DataFrame, genres: list[str],
                  windows: list[int], cfg: InteractionsConfig) -> DataFrame:
    """Per user and change day: event counts (lifetime and per window), positives, average rating,
    first/last event time (epoch seconds), genre affinity (share of positives per genre, in `genres`
    order, a positive split evenly over its movie's genres) and age where known."""
    movie_genres = movies.select(S.MOVIE_ID, F.coalesce("genres", F.array().cast("array<string>")).alias("g"))
    share = F.when(_is_positive(cfg), 1.0 / F.greatest(F.size("g"), F.lit(1)))
    genre_sums = [F.coalesce(F.sum(F.when(F.array_contains("g", name), share)), F.lit(0.0)).alias(f"genre_{i}")
                  for i, name in enumerate(genres)]
    daily = _daily(events.join(movie_genres, S.MOVIE_ID, "left"), S.USER_ID, cfg, genre_sums)
    genre_columns = [f"genre_{i}" for i in range(len(genres))]
    rows = _avg_rating(_as_of_rows(daily, S.USER_ID, windows,
                                   ["n_events", "n_positives", "rating_sum", "n_ratings", *genre_columns]))
    totals = [F.col(f"{c}_total") for c in genre_columns]
    norm = F.greatest(sum(totals, F.lit(0.0)), F.lit(1e-9)) if totals else F.lit(1.0)
    affinity = F.array(*[(t / norm).cast("float") for t in totals]) if totals else F.array().cast("array<float>")
    rows = rows.withColumn("genre_affinity", affinity).drop(*[f"{c}_total" for c in genre_columns])
    return rows.join(users.select(S.USER_ID, F.col("age").cast("long").alias("age")), S.USER_ID, "left")


def movie_features(events: DataFrame, windows: list[int], cfg: InteractionsConfig) -> DataFrame:
    """Per movie and change day: event counts (lifetime and per window), positives, distinct viewers,
    average rating and first/last event time (epoch seconds)."""
    first_seen = events.groupBy(S.MOVIE_ID, S.USER_ID).agg(_day(F.min(S.TS)).alias("day"))
    new_viewers = first_seen.groupBy(S.MOVIE_ID, "day").agg(F.count("*").alias("n_new_viewers"))
    # A user's first day on a movie is one of its days with events, so the left join loses nothing.
    daily = _daily(events, S.MOVIE_ID, cfg, []).join(new_viewers, [S.MOVIE_ID, "day"], "left").fillna(0, ["n_new_viewers"])
    rows = _as_of_rows(daily, S.MOVIE_ID, windows, ["n_events", "n_positives", "rating_sum", "n_ratings", "n_new_viewers"])
    return _avg_rating(rows).withColumnRenamed("n_new_viewers_total", "viewers")


def movie_attributes(movies: DataFrame) -> DataFrame:
    """Catalog attributes per live (not retired) movie, stamped with the release date: a movie is unknown before it is
    released (or at the epoch when the date is missing). The values are the latest ingested, so vote
    counts are today's even for past timestamps: they are kept out of the ranker's point-in-time set."""
    released = F.coalesce(F.col("release_date").cast("timestamp"), F.timestamp_seconds(F.lit(0)))
    return movies.where(~F.col("deleted")).select(
        S.MOVIE_ID,
        F.coalesce("genres", F.array().cast("array<string>")).alias("genres"),
        F.col("year").cast("long").alias("year"),
        F.col("runtime").cast("double").alias("runtime"),
        F.col("vote_average").cast("double").alias("vote_average"),
        F.col("vote_count").cast("long").alias("vote_count"),
        F.col("popularity").cast("double").alias("popularity"),
        F.coalesce(F.col("adult"), F.lit(False)).alias("adult"),
        released.alias(EVENT_TIMESTAMP),
    )
