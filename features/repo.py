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


def _source(name: str) -> FileSource:
    return FileSource(name=f"{name}_source", path=f"data/{name}.parquet", timestamp_field="event_timestamp")


user_recommendations = FeatureView(
    name="user_recommendations",
    entities=[rec_list],
    ttl=timedelta(0),
    schema=[
        *LIST_ITEM_FIELDS,
        Field(name="reasons", dtype=Array(String)),
        Field(name="slots", dtype=Array(String)),
        Field(name="generated_at", dtype=String),
    ],
    source=_source("user_recommendations"),
    online=True,
)

similar_movies = FeatureView(
    name="similar_movies",
    entities=[movie],
    ttl=timedelta(0),
    schema=LIST_ITEM_FIELDS,
    source=_source("similar_movies"),
    online=True,
)

movie_cards = FeatureView(
    name="movie_cards",
    entities=[movie],
    ttl=timedelta(0),
    schema=[
        Field(name="title", dtype=String),
        Field(name="year", dtype=Int64),
        Field(name="genres", dtype=Array(String)),
        Field(name="overview", dtype=String),
        Field(name="runtime", dtype=Float64),
        Field(name="vote_average", dtype=Float64),
        Field(name="poster_path", dtype=String),
        Field(name="director", dtype=String),
    ],
    source=_source("movie_cards"),
    online=True,
)

publish_manifest = FeatureView(
    name="publish_manifest",
    entities=[manifest],
    ttl=timedelta(0),
    schema=[
        Field(name="version", dtype=String),
        Field(name="published_at", dtype=String),
        Field(name="experiment", dtype=String),
        Field(name="variants", dtype=Array(String)),
        Field(name="weights", dtype=Array(Float64)),
    ],
    source=_source("publish_manifest"),
    online=True,
)

DEFINITIONS = [rec_list, movie, manifest, user_recommendations, similar_movies, movie_cards, publish_manifest]
