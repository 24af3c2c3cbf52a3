"""Row-level rules for bronze -> silver: (rule name, Spark condition that marks a row BAD).

Ids are non-negative: -1 is the scorer's stand-in for "a user we know nothing about".

The first failing rule becomes the row's quarantine reason, so order goes from "could not
be parsed at all" to finer checks.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from data_contracts import columns as S

# Allow clocks a little skew before calling an event "in the future".
FUTURE_TOLERANCE = "INTERVAL 1 DAY"
# Limits shared with the batch contracts (data_contracts/suites.py), which check the landed batch again.
MAX_WATCH_SECONDS = 7 * 24 * 3600
MAX_RUNTIME_MINUTES = 1500
MAX_AGE = 120


def event_rules() -> list[tuple[str, Column]]:
    is_rating = F.col(S.EVENT_TYPE) == "rating"
    return [
        ("unparseable_row", F.col("_parsed").isNull()),
        ("missing_event_id", F.col(S.EVENT_ID).isNull() | (F.length(S.EVENT_ID) == 0)),
        ("invalid_user_id", F.col(S.USER_ID).isNull() | (F.col(S.USER_ID) < 0)),
        ("invalid_movie_id", F.col(S.MOVIE_ID).isNull() | (F.col(S.MOVIE_ID) < 0)),
        ("unknown_event_type", F.col(S.EVENT_TYPE).isNull() | ~F.col(S.EVENT_TYPE).isin(*S.EVENT_TYPES)),
        ("invalid_ts", F.col(S.TS).isNull()),
        ("ts_in_future", F.col(S.TS) > F.current_timestamp() + F.expr(FUTURE_TOLERANCE)),
        ("rating_out_of_range", is_rating & (F.col(S.VALUE).isNull() | (F.col(S.VALUE) < 0.5) | (F.col(S.VALUE) > 5.0))),
        ("negative_watch_seconds", F.coalesce(F.col(S.WATCH_SECONDS) < 0, F.lit(False))),
        ("watch_seconds_too_large", F.coalesce(F.col(S.WATCH_SECONDS) > MAX_WATCH_SECONDS, F.lit(False))),
    ]


def movie_rules() -> list[tuple[str, Column]]:
    return [
        ("unparseable_row", F.col("_parsed").isNull()),
        ("invalid_movie_id", F.col(S.MOVIE_ID).isNull()),
        ("missing_title", ~F.col("deleted") & (F.col("title").isNull() | (F.length(F.trim("title")) == 0))),
        ("negative_runtime", F.coalesce(F.col("runtime") < 0, F.lit(False))),
        ("runtime_too_long", F.coalesce(F.col("runtime") > MAX_RUNTIME_MINUTES, F.lit(False))),
        ("vote_average_out_of_range", F.coalesce((F.col("vote_average") < 0) | (F.col("vote_average") > 10), F.lit(False))),
    ]


def user_rules() -> list[tuple[str, Column]]:
    return [
        ("unparseable_row", F.col("_parsed").isNull()),
        ("invalid_user_id", F.col(S.USER_ID).isNull() | (F.col(S.USER_ID) < 0)),
        ("age_out_of_range", F.coalesce((F.col("age") < 0) | (F.col("age") > MAX_AGE), F.lit(False))),
    ]


def exposure_rules() -> list[tuple[str, Column]]:
    return [
        ("unparseable_row", F.col("_parsed").isNull()),
        ("missing_exposure_id", F.col(S.EXPOSURE_ID).isNull() | (F.length(S.EXPOSURE_ID) == 0)),
        ("invalid_user_id", F.col(S.USER_ID).isNull() | (F.col(S.USER_ID) < 0)),
        ("missing_variant", F.col(S.EXPERIMENT).isNull() | F.col(S.VARIANT).isNull() | (F.length(S.VARIANT) == 0)),
        ("invalid_served_at", F.col(S.SERVED_AT).isNull()),
        ("served_at_in_future", F.col(S.SERVED_AT) > F.current_timestamp() + F.expr(FUTURE_TOLERANCE)),
        ("invalid_movie_ids", F.col("movie_ids").isNull() | F.exists("movie_ids", lambda m: m.isNull() | (m < 0))),
    ]


def first_failure(rules: list[tuple[str, Column]]) -> Column:
    """A string column: the name of the first rule the row fails, or null if it passes all."""
    reason = F.lit(None).cast("string")
    for name, bad in reversed(rules):
        reason = F.when(F.coalesce(bad, F.lit(True)), F.lit(name)).otherwise(reason)
    return reason
