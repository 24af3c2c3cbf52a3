"""Per-user outcomes of an experiment, attributed to what each user was shown, reduced on Spark to the
moments the statistics need (jobs/experiments/stats.py): nothing on the driver grows with users.

A user belongs to the variant the hash assigned (intention to treat: `variant` in silver.exposures), whatever
was served: an override, a fallback or a degraded answer still counts, and is reported. Outcomes, per user:
- `click_through`: clicks on shown movies within `window_days` of a list showing them, per list shown;
- `watches_of_shown`: watch events on shown movies within the window;
- `watch_hours_of_shown`: hours watched in those events.
Each has a pre-experiment covariate for CUPED, the same behaviour on any movie in the `pre_days` before the
user's first exposure (nothing was shown then): clicks per day, watches, watch hours. An event counts once
however many lists showed its movie.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from data_contracts import columns as S
from jobs import lake

METRICS = ("click_through", "watches_of_shown", "watch_hours_of_shown")
DAY_SECONDS = 86400


def exposed_users(exposures: DataFrame) -> DataFrame:
    """One row per exposed user: assigned variant (the first exposure's), first exposure time, lists shown,
    fallback and degraded lists, and how many variants the user was logged under (more than one: the
    weights or the experiment changed under them)."""
    return exposures.groupBy(S.USER_ID).agg(
        F.min_by(S.VARIANT, S.SERVED_AT).alias(S.VARIANT),
        F.min(S.SERVED_AT).alias("first_exposed"),
        F.count("*").alias("lists"),
        F.sum(F.col("fallback").cast("int")).alias("fallback_lists"),
        F.sum(F.col("degraded").cast("int")).alias("degraded_lists"),
        F.countDistinct(S.VARIANT).alias("variants_logged"),
    )


def user_outcomes(exposures: DataFrame, interactions: DataFrame, window_days: float, pre_days: float,
                  until: datetime | None = None) -> DataFrame:
    """Per exposed user: variant, lists, fallback/degraded lists, every METRIC and its `pre_<metric>`.
    With `until`, only exposures and events before it count (the readout as of that time)."""
    if until is not None:
        exposures = exposures.where(F.col(S.SERVED_AT) < F.lit(until))
        interactions = interactions.where(F.col(S.TS) < F.lit(until))
    users = exposed_users(exposures)
    window = F.expr(f"INTERVAL {int(window_days * DAY_SECONDS)} SECONDS")
    shown = exposures.select(S.USER_ID, S.SERVED_AT, F.explode("movie_ids").alias(S.MOVIE_ID))
    events = interactions.select(S.EVENT_ID, S.USER_ID, S.MOVIE_ID, S.EVENT_TYPE, S.WATCH_SECONDS, S.TS)
    attributed = (events.where(F.col(S.EVENT_TYPE).isin("click", "watch"))
                  .join(shown, [S.USER_ID, S.MOVIE_ID])
                  .where((F.col(S.TS) >= F.col(S.SERVED_AT)) & (F.col(S.TS) < F.col(S.SERVED_AT) + window))
                  .dropDuplicates([S.EVENT_ID]))
    after = attributed.groupBy(S.USER_ID).agg(*_counts())
    pre_window = F.expr(f"INTERVAL {int(pre_days * DAY_SECONDS)} SECONDS")
    before = (events.join(users.select(S.USER_ID, "first_exposed"), S.USER_ID)
              .where((F.col(S.TS) < F.col("first_exposed")) & (F.col(S.TS) >= F.col("first_exposed") - pre_window))
              .groupBy(S.USER_ID).agg(*_counts("pre_")))
    out = users.join(after, S.USER_ID, "left").join(before, S.USER_ID, "left").fillna(0.0)
    return out.select(
        S.USER_ID, S.VARIANT, "first_exposed", "lists", "fallback_lists", "degraded_lists", "variants_logged",
        (F.col("clicks") / F.col("lists")).alias("click_through"),
        F.col("watches").alias("watches_of_shown"),
        (F.col("watch_seconds") / 3600).alias("watch_hours_of_shown"),
        (F.col("pre_clicks") / pre_days).alias("pre_click_through"),
        F.col("pre_watches").alias("pre_watches_of_shown"),
        (F.col("pre_watch_seconds") / 3600).alias("pre_watch_hours_of_shown"),
    )


def _counts(prefix: str = "") -> list:
    is_click, is_watch = F.col(S.EVENT_TYPE) == "click", F.col(S.EVENT_TYPE) == "watch"
    return [F.sum(is_click.cast("double")).alias(f"{prefix}clicks"),
            F.sum(is_watch.cast("double")).alias(f"{prefix}watches"),
            F.sum(F.when(is_watch, F.coalesce(F.col(S.WATCH_SECONDS), F.lit(0.0))).otherwise(0.0)).alias(f"{prefix}watch_seconds")]


def moments(outcomes: DataFrame, by: list[str]) -> list[dict]:
    """Per group of `by` and METRIC: n, sums of y, y^2, x, x^2 and x*y (x = the pre-period covariate): what
    Welch, CUPED and post-stratification need, in one pass, a handful of rows to the driver."""
    aggs = [F.count("*").alias("n")]
    for m in METRICS:
        y, x = F.col(m).cast("double"), F.col(f"pre_{m}").cast("double")
        aggs += [F.sum(y).alias(f"{m}|y"), F.sum(y * y).alias(f"{m}|yy"), F.sum(x).alias(f"{m}|x"),
                 F.sum(x * x).alias(f"{m}|xx"), F.sum(x * y).alias(f"{m}|xy")]
    return [row.asDict() for row in outcomes.groupBy(*by).agg(*aggs).collect()]


def exposure_counts(outcomes: DataFrame) -> list[dict]:
    """Per variant: users, lists, fallback and degraded lists, users logged under more than one variant."""
    return [row.asDict() for row in outcomes.groupBy(S.VARIANT).agg(
        F.count("*").alias("users"), F.sum("lists").alias("lists"), F.sum("fallback_lists").alias("fallback_lists"),
        F.sum("degraded_lists").alias("degraded_lists"),
        F.sum((F.col("variants_logged") > 1).cast("int")).alias("users_in_several_variants")).collect()]


def read_exposures(spark: SparkSession, path: str, experiment: str, since: datetime | None) -> DataFrame:
    """The experiment's exposures; with `since`, those of the users first exposed then or later (a cohort, whole:
    a user exposed before `since` would have a pre-period that is partly treated)."""
    frame = lake.read(spark, path).where(F.col(S.EXPERIMENT) == experiment)
    if since is None:
        return frame
    cohort = frame.groupBy(S.USER_ID).agg(F.min(S.SERVED_AT).alias("first")).where(F.col("first") >= F.lit(since))
    return frame.join(cohort.select(S.USER_ID), S.USER_ID, "left_semi")
