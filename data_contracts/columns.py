"""Column names of the lake's tables: the one place they are spelled out.

Free of Spark so that pure code (models/, serving/) can use them too.
"""

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

# Exposures: what the API served (serving/exposures.py).
EXPOSURE_ID = "exposure_id"
SERVED_AT = "served_at"
SERVED_DATE = "served_date"    # the partition column of silver exposures
EXPERIMENT = "experiment"
VARIANT = "variant"            # as assigned by the hash: what an intention-to-treat readout groups by

# Lineage columns on bronze, silver and quarantine rows.
BATCH_ID = "batch_id"
SOURCE = "source"
INGESTED_AT = "ingested_at"
PAYLOAD = "payload"
PAYLOAD_FORMAT = "payload_format"
SOURCE_FILE = "source_file"
SOURCE_LINE = "source_line"     # bronze: orders the lines of a file read together (not a line number)
REASON = "reason"
TABLE = "table_name"

# Gold outputs.
RUN_ID = "run_id"
SPLIT = "split"
LIST_NAME = "list_name"
RANK = "rank"
SCORE = "score"
REASON_TEXT = "reason"
SLOT = "slot"

# Erasure: forgotten users are known by the SHA-256 of their id (jobs/suppression.py), never by the id.
USER_HASH = "user_hash"
