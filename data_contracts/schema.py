"""Column names and types of the lake's tables: the one place they are spelled out."""

from __future__ import annotations

from pyspark.sql import types as T

# Silver interactions.
EVENT_ID = "event_id"
USER_ID = "user_id"
MOVIE_ID = "movie_id"
EVENT_TYPE = "event_type"
VALUE = "value"
WATCH_SECONDS = "watch_seconds"
DEVICE = "device"
TS = "ts"
EVENT_DATE = "event_date"
EVENT_MONTH = "event_month"  # yyyy-MM, the partition column of silver interactions

EVENT_TYPES = ("view", "click", "watch", "rating", "skip", "dismiss")

# Lineage columns on bronze, silver and quarantine rows.
BATCH_ID = "batch_id"
SOURCE = "source"
INGESTED_AT = "ingested_at"
PAYLOAD = "payload"
PAYLOAD_FORMAT = "payload_format"
SOURCE_FILE = "source_file"
REASON = "reason"
TABLE = "table_name"

# Gold outputs.
RUN_ID = "run_id"
SPLIT = "split"
LIST_NAME = "list_name"
RANK = "rank"
SCORE = "score"
REASON_TEXT = "reason"

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
