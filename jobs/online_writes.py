"""Rows written to the Feast online store in Feast's own layout, without its per-row write path.

`FeatureStore.write_to_online_store` turns a frame into Arrow, infers every value's type and builds its protos
one Python value at a time; its SQLite store then runs one upsert per feature of each row and commits with a
full sync, and its Redis store reads each row's timestamp before writing it. That is about 1,000 rows/s of
published lists (bench/publish.py): a million users' lists would take most of an hour. Here a view's frame is
converted a column at a time from the feature view's declared types and written in one statement (SQLite) or
one pipeline (Redis) per call: the same table or hash, entity key, field names, value and timestamp protos
Feast's `online_read` reads (tested equal to rows Feast wrote, tests/jobs/test_online_writes.py). An online
store of any other type, or a feature type not converted here, goes through Feast's own path.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from datetime import datetime

import pandas as pd

from serving.store import sqlite_path, string_entity_key


def _converter(value_type: str) -> Callable | None:
    """A function from one Python (or numpy) value to its ValueProto for a Feast value type, None for a type not
    converted here. A missing value is an empty proto, as Feast writes it."""
    from feast.protos.feast.types import Value_pb2 as P

    lists = {"STRING_LIST": ("string_list_val", P.StringList), "INT64_LIST": ("int64_list_val", P.Int64List),
             "DOUBLE_LIST": ("double_list_val", P.DoubleList), "FLOAT_LIST": ("float_list_val", P.FloatList)}
    if value_type in lists:
        field, kind = lists[value_type]

        def listed(value):
            if value is None:
                return P.Value()
            return P.Value(**{field: kind(val=value.tolist() if hasattr(value, "tolist") else value)})
        return listed
    scalars = {"STRING": ("string_val", str), "INT64": ("int64_val", int), "DOUBLE": ("double_val", float),
               "FLOAT": ("float_val", float)}
    if value_type in scalars:
        field, cast = scalars[value_type]

        def scalar(value):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return P.Value()
            return P.Value(**{field: cast(value)})
        return scalar
    return None


def _encoded(view, frame: pd.DataFrame) -> dict[str, list[bytes]] | None:
    """Each feature's column of `frame` as serialized ValueProtos; None when a type is not converted here."""
    out = {}
    for feature in view.features:
        convert = _converter(feature.dtype.to_value_type().name)
        if convert is None:
            return None
        out[feature.name] = [convert(v).SerializeToString() for v in frame[feature.name].astype(object)]
    return out


class OnlineWriter:
    """Writes frames of published rows to one feature store's online store (one Redis connection for all)."""

    SQLITE_CACHE_KIB = 262_144  # the writer's page cache: the keys' B-tree of a million users' lists is hundreds of MB

    def __init__(self, store) -> None:
        self.store = store
        self._redis = None
        self._sqlite: sqlite3.Connection | None = None

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None

    def write(self, view_name: str, frame: pd.DataFrame, key: str, at: datetime) -> None:
        """Write `frame` (column `key`: the string entity value; one column per feature of `view_name`) with event
        time `at`, replacing any row of the same key."""
        view = self.store.get_feature_view(view_name, allow_registry_cache=True)
        config = self.store.config
        at = pd.Timestamp(at).to_pydatetime()  # sqlite3 binds a datetime, not pandas' subclass of it
        kind = config.online_store.type
        encoded = _encoded(view, frame) if kind in ("sqlite", "redis") else None
        if encoded is None:
            self.store.write_to_online_store(view_name, frame.assign(event_timestamp=at))
            return
        [join_key] = view.join_keys
        keys = [string_entity_key(join_key, value, config.entity_key_serialization_version) for value in frame[key]]
        if kind == "sqlite":
            if self._sqlite is None:
                self._sqlite = sqlite3.connect(sqlite_path(config), timeout=30)
                # WAL (serving.store.use_wal): NORMAL loses no committed write when the process dies, only on a
                # power loss, and then only the last transactions, which the manifest has not made live yet.
                self._sqlite.execute("PRAGMA synchronous=NORMAL")
                self._sqlite.execute(f"PRAGMA cache_size=-{self.SQLITE_CACHE_KIB}")
            _write_sqlite(self._sqlite, config, view, keys, encoded, at)
            return
        if self._redis is None:
            from feast.infra.online_stores.redis import RedisOnlineStore

            self._redis = RedisOnlineStore()._get_client(config.online_store)
        _write_redis(self._redis, config, view, keys, encoded, at)


def _write_sqlite(conn: sqlite3.Connection, config, view, keys: list[bytes], encoded: dict[str, list[bytes]],
                  at: datetime) -> None:
    from feast.infra.online_stores.helpers import compute_table_id
    from feast.utils import to_naive_utc

    table = compute_table_id(config.project, view, config.registry.enable_online_feature_view_versioning)
    stamp = to_naive_utc(at)
    # The columns Feast's SQLite store writes (value_text only for string values, which nothing here queries).
    # In key order: neighbouring inserts touch the same pages of the primary key's B-tree.
    rows = sorted((entity, name, blob, None, stamp, None) for name, blobs in encoded.items()
                  for entity, blob in zip(keys, blobs))
    with conn:
        conn.executemany(
            f'INSERT INTO "{table}" (entity_key, feature_name, value, value_text, event_ts, created_ts) '
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE SET value = excluded.value, "
            "value_text = excluded.value_text, event_ts = excluded.event_ts, created_ts = excluded.created_ts", rows)


def _write_redis(client, config, view, keys: list[bytes], encoded: dict[str, list[bytes]], at: datetime) -> None:
    from feast import utils
    from feast.infra.online_stores.helpers import _mmh3
    from feast.infra.online_stores.redis import _versioned_fv_name
    from google.protobuf.timestamp_pb2 import Timestamp

    online = config.online_store
    name = _versioned_fv_name(view, config)
    stamp = Timestamp()
    stamp.FromDatetime(utils.make_tzaware(at))
    fields = [(_mmh3(f"{name}:{feature}"), blobs) for feature, blobs in encoded.items()]
    project = config.project.encode()
    ts_field, ts_value = f"_ts:{name}", stamp.SerializeToString()
    with client.pipeline(transaction=False) as pipe:
        for i, entity in enumerate(keys):
            redis_key = entity + project
            mapping = {ts_field: ts_value}
            for field, blobs in fields:
                mapping[field] = blobs[i]
            pipe.hset(redis_key, mapping=mapping)
            if online.key_ttl_seconds:
                pipe.expire(name=redis_key, time=online.key_ttl_seconds)
        pipe.execute()
