"""What the API reads from the online store.

Everything published is versioned: entity keys start with "<version>:", and the
`publish_manifest` view (one row, key "current") names the version to read, the experiment and
its variants. A new version is written completely before the manifest flips, so readers never
see half a publish. List rows carry the movie card fields of their items, so one read answers a
request. Offline sources are parquet snapshots of the served version, written by the publish
step under the repo folder (paths are relative to it); the history is in the gold Delta tables.
"""

from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Array, Float32, Float64, Int64, String

rec_list = Entity(
    name="rec_list",
    join_keys=["list_key"],
    value_type=ValueType.STRING,
    description='"<version>:<variant>:<user_id>"; user "__fallback__" is the list unknown users get',
)

movie = Entity(
    name="published_movie",
    join_keys=["movie_key"],
    value_type=ValueType.STRING,
    description='"<version>:<movie_id>"',
)

manifest = Entity(name="manifest", join_keys=["manifest_id"], value_type=ValueType.STRING)

# Per item of a list: the card fields the frontend shows next to it (genres joined by "|").
LIST_ITEM_FIELDS = [
    Field(name="movie_ids", dtype=Array(Int64)),
    Field(name="scores", dtype=Array(Float32)),
    Field(name="titles", dtype=Array(String)),
    Field(name="years", dtype=Array(Int64)),
    Field(name="genres", dtype=Array(String)),
    Field(name="poster_paths", dtype=Array(String)),
]


def _published(name: str, entity: Entity, schema: list[Field]) -> FeatureView:
    """An online view of published rows: no TTL (versions, not age, decide what is served), read from
    its parquet snapshot `data/<name>.parquet`."""
    source = FileSource(name=f"{name}_source", path=f"data/{name}.parquet", timestamp_field="event_timestamp")
    return FeatureView(name=name, entities=[entity], ttl=timedelta(0), schema=schema, source=source, online=True)


user_recommendations = _published("user_recommendations", rec_list, [
    *LIST_ITEM_FIELDS,
    Field(name="reasons", dtype=Array(String)),
    Field(name="slots", dtype=Array(String)),
    Field(name="generated_at", dtype=String),
])

similar_movies = _published("similar_movies", movie, LIST_ITEM_FIELDS)

movie_cards = _published("movie_cards", movie, [
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
])

DEFINITIONS = [rec_list, movie, manifest, user_recommendations, similar_movies, movie_cards, publish_manifest]
