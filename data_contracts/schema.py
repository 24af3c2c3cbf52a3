"""Spark types of the silver tables, built from the names in `data_contracts.columns`."""

from __future__ import annotations

from pyspark.sql import types as T

from data_contracts.columns import (DEVICE, EVENT_ID, EVENT_TYPE, EXPERIMENT, EXPOSURE_ID, MOVIE_ID, SERVED_AT, TS, USER_ID,
                                    VALUE, VARIANT, WATCH_SECONDS)

EVENT_SCHEMA = T.StructType(
    [
        T.StructField(EVENT_ID, T.StringType(), False),
        T.StructField(USER_ID, T.LongType(), False),
        T.StructField(MOVIE_ID, T.LongType(), False),
        T.StructField(EVENT_TYPE, T.StringType(), False),
        T.StructField(VALUE, T.DoubleType(), True),
        T.StructField(WATCH_SECONDS, T.DoubleType(), True),
        T.StructField(DEVICE, T.StringType(), True),
        T.StructField(TS, T.TimestampType(), False),
    ]
)

MOVIE_SCHEMA = T.StructType(
    [
        T.StructField(MOVIE_ID, T.LongType(), False),
        T.StructField("tmdb_id", T.LongType(), True),
        T.StructField("title", T.StringType(), False),
        T.StructField("year", T.IntegerType(), True),
        T.StructField("genres", T.ArrayType(T.StringType()), True),
        T.StructField("overview", T.StringType(), True),
        T.StructField("keywords", T.ArrayType(T.StringType()), True),
        T.StructField("cast", T.ArrayType(T.StringType()), True),
        T.StructField("director", T.StringType(), True),
        T.StructField("runtime", T.DoubleType(), True),
        T.StructField("vote_average", T.DoubleType(), True),
        T.StructField("vote_count", T.LongType(), True),
        T.StructField("popularity", T.DoubleType(), True),
        T.StructField("release_date", T.DateType(), True),
        T.StructField("adult", T.BooleanType(), True),
        T.StructField("poster_path", T.StringType(), True),
        T.StructField("deleted", T.BooleanType(), False),      # retired (a TMDB tombstone): kept, never served
        T.StructField("updated_at", T.TimestampType(), False),  # the version: an older one never overwrites a newer
    ]
)

USER_SCHEMA = T.StructType(
    [
        T.StructField(USER_ID, T.LongType(), False),
        T.StructField("gender", T.StringType(), True),
        T.StructField("age", T.IntegerType(), True),
        T.StructField("occupation", T.StringType(), True),
        T.StructField("signup_ts", T.TimestampType(), True),
    ]
)

EXPOSURE_SCHEMA = T.StructType(
    [
        T.StructField(EXPOSURE_ID, T.StringType(), False),
        T.StructField(USER_ID, T.LongType(), False),
        T.StructField(EXPERIMENT, T.StringType(), False),
        T.StructField(VARIANT, T.StringType(), False),
        T.StructField("served_variant", T.StringType(), True),
        T.StructField("version", T.StringType(), True),
        T.StructField("context", T.StringType(), True),
        T.StructField("movie_ids", T.ArrayType(T.LongType()), False),
        T.StructField("fallback", T.BooleanType(), True),
        T.StructField("degraded", T.BooleanType(), True),
        T.StructField(SERVED_AT, T.TimestampType(), False),
    ]
)
