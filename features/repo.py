"""What the API reads from the online store.

Published lists are versioned: the entity key is "<version>:<user_id>", and the
`publish_manifest` view (one row, key "current") names the version to read. A new version
is written completely before the manifest flips, so readers never see half a publish.
Offline sources are parquet snapshots of the served version, written by the publish step
under the repo folder (paths are relative to it); the history is in the gold Delta tables.
"""

from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Array, Float32, Int64, String

rec_list = Entity(
    name="rec_list",
    join_keys=["list_key"],
    value_type=ValueType.STRING,
    description='"<version>:<user_id>", or "<version>:__fallback__" for the list unknown users get',
)

manifest = Entity(name="manifest", join_keys=["manifest_id"], value_type=ValueType.STRING)

user_recommendations = FeatureView(
    name="user_recommendations",
    entities=[rec_list],
    ttl=timedelta(0),
    schema=[
        Field(name="movie_ids", dtype=Array(Int64)),
        Field(name="scores", dtype=Array(Float32)),
        Field(name="reasons", dtype=Array(String)),
        Field(name="titles", dtype=Array(String)),
        Field(name="years", dtype=Array(Int64)),
        Field(name="generated_at", dtype=String),
    ],
    source=FileSource(name="user_recommendations_source", path="data/user_recommendations.parquet",
                      timestamp_field="event_timestamp"),
    online=True,
)

publish_manifest = FeatureView(
    name="publish_manifest",
    entities=[manifest],
    ttl=timedelta(0),
    schema=[Field(name="version", dtype=String), Field(name="published_at", dtype=String)],
    source=FileSource(name="publish_manifest_source", path="data/publish_manifest.parquet",
                      timestamp_field="event_timestamp"),
    online=True,
)

DEFINITIONS = [rec_list, manifest, user_recommendations, publish_manifest]
