"""Feast declarations: the user and movie features, and what the API reads.

`user_activity`, `movie_activity` and `movie_attributes` are point-in-time views over the gold Delta
tables the features step writes (see jobs/feature_tables.py), read by Feast's Spark offline store,
so `get_historical_features` joins them as of each row's time on the same Spark session (local or
a cluster). The features step materialises their latest rows to the online store.

Everything published is versioned: entity keys start with "<version>:", and the
`publish_manifest` view (row "current") names the version to read, the experiment and its
variants; its row "held" lists (in `versions`) every version whose rows the online store holds,
newest first, which pruning trims. A new version is written completely before the manifest
flips, so readers never see half a publish.
List rows carry the movie card fields of their items, so one read answers a request. Offline
sources are parquet snapshots of the served version (a folder of part files per view, one per
chunk), written by the publish step under the repo folder (paths are relative to it); the
history is in the gold Delta tables.
"""

from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
from feast.table_format import DeltaFormat
from feast.types import Array, Bool, Float32, Float64, Int64, String

from conf import Config

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
movie = Entity(name="movie", join_keys=["movie_id"], value_type=ValueType.INT64)

rec_list = Entity(
    name="rec_list",
    join_keys=["list_key"],
    value_type=ValueType.STRING,
    description='"<version>:<variant>:<user_id>"; user "__fallback__" is the list unknown users get',
)

published_movie = Entity(
    name="published_movie",
    join_keys=["movie_key"],
    value_type=ValueType.STRING,
    description='"<version>:<movie_id>"',
)

manifest = Entity(name="manifest", join_keys=["manifest_id"], value_type=ValueType.STRING)

# Similar movies as the API serves them: each item encoded at publish time as the JSON object of the response
# (serving/responses.py), so a read answers without re-encoding.
LIST_ITEM_FIELDS = [
    Field(name="movie_ids", dtype=Array(Int64)),
    Field(name="items", dtype=Array(String)),
]


def _published(name: str, entity: Entity, schema: list[Field]) -> FeatureView:
    """An online view of published rows: no TTL (versions, not age, decide what is served), read from
    its parquet snapshot `data/<name>.parquet`."""
    source = FileSource(name=f"{name}_source", path=f"data/{name}.parquet", timestamp_field="event_timestamp")
    return FeatureView(name=name, entities=[entity], ttl=timedelta(0), schema=schema, source=source, online=True)


# A user's list as arrays, one element per item but `reasons` (the list's distinct reasons, which `reason_ids`
# index): the reader joins them to the version's catalogue of card fields (list_catalogue). A million users' lists
# with every item's card spelt out were most of an online store (README, Scale).
user_recommendations = _published("user_recommendations", rec_list, [
    Field(name="movie_ids", dtype=Array(Int64)),
    Field(name="scores", dtype=Array(Float32)),
    Field(name="reasons", dtype=Array(String)),
    Field(name="reason_ids", dtype=Array(Int64)),
    Field(name="slots", dtype=Array(String)),
    Field(name="generated_at", dtype=String),
    # Non-empty for a user known only by their profile: the row has no items and names the segment whose list
    # ("<version>:<variant>:__segment__:<segment>") they are served.
    Field(name="segment", dtype=String),
])

similar_movies = _published("similar_movies", published_movie, LIST_ITEM_FIELDS)

movie_cards = _published("movie_cards", published_movie, [
    Field(name="title", dtype=String),
    Field(name="year", dtype=Int64),
    Field(name="genres", dtype=Array(String)),
    Field(name="overview", dtype=String),
    Field(name="runtime", dtype=Float64),
    Field(name="vote_average", dtype=Float64),
    Field(name="poster_path", dtype=String),
    Field(name="director", dtype=String),
])

publish_manifest = _published("publish_manifest", manifest, [
    Field(name="version", dtype=String),
    Field(name="published_at", dtype=String),
    Field(name="experiment", dtype=String),
    Field(name="variants", dtype=Array(String)),
    Field(name="weights", dtype=Array(Float64)),
    Field(name="versions", dtype=Array(String)),
])

# One row a version ("<version>:catalogue"): every movie's card fields as they sit inside a list item.
list_catalogue = _published("list_catalogue", manifest, [
    Field(name="movie_ids", dtype=Array(Int64)),
    Field(name="cards", dtype=Array(String)),
])

PUBLISHED = [rec_list, published_movie, manifest, user_recommendations, similar_movies, movie_cards, publish_manifest,
             list_catalogue]


def _activity_fields(windows: list[int]) -> list[Field]:
    return [
        Field(name="events_total", dtype=Int64),
        Field(name="positives_total", dtype=Int64),
        *[Field(name=f"events_{w}d", dtype=Int64) for w in windows],
        Field(name="avg_rating", dtype=Float64),
        Field(name="first_event_at", dtype=Float64),
        Field(name="last_event_at", dtype=Float64),
    ]


def _gold(cfg: Config, table: str) -> SparkSource:
    return SparkSource(name=f"gold_{table}", path=cfg.table_path("gold", table), table_format=DeltaFormat(),
                       timestamp_field="event_timestamp")


def feature_views(cfg: Config) -> list[FeatureView]:
    """The point-in-time views over this configuration's gold tables. No TTL: a row holds until the
    next row of its entity, which is written whenever the value changes."""
    windows = cfg.feast.windows_days
    return [
        FeatureView(name="user_activity", entities=[user], ttl=timedelta(0), source=_gold(cfg, "user_features"),
                    schema=[*_activity_fields(windows), Field(name="genre_affinity", dtype=Array(Float32)),
                            Field(name="age", dtype=Int64)]),
        FeatureView(name="movie_activity", entities=[movie], ttl=timedelta(0), source=_gold(cfg, "movie_features"),
                    schema=[*_activity_fields(windows), Field(name="viewers", dtype=Int64)]),
        FeatureView(name="movie_attributes", entities=[movie], ttl=timedelta(0), source=_gold(cfg, "movie_attributes"),
                    schema=[Field(name="genres", dtype=Array(String)), Field(name="year", dtype=Int64),
                            Field(name="runtime", dtype=Float64), Field(name="vote_average", dtype=Float64),
                            Field(name="vote_count", dtype=Int64), Field(name="popularity", dtype=Float64),
                            Field(name="adult", dtype=Bool)]),
    ]


def definitions(cfg: Config) -> list:
    """Everything `feast apply` registers for this configuration."""
    return [user, movie, *feature_views(cfg), *PUBLISHED]
