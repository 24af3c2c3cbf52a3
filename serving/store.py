"""Opening the Feast store and reading what is published: shared by the publisher, the API and the bench."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sqlite3
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from conf import Config
from serving.responses import Assembler

FALLBACK = "__fallback__"
CURRENT = "current"
HELD = "held"  # the manifest row that lists every version in the online store (its `versions`), for pruning
RELEASE = "release"  # "<version>:release": the manifest row a version went live with, for `movierec rollback`
# A similar-movies list: its items already encoded as the response's JSON objects (serving.responses); the movie
# ids too, for tools that need them without decoding. A user list: arrays the reader joins to the catalogue.
LIST_FEATURES = ["movie_ids", "items"]
USER_LIST_FEATURES = ["movie_ids", "scores", "reasons", "reason_ids", "slots", "generated_at", "segment"]
CARD_FEATURES = ["title", "year", "genres", "overview", "runtime", "vote_average", "poster_path", "director"]
MANIFEST_FEATURES = ["version", "published_at", "experiment", "variants", "weights"]
# Views whose keys start with "<version>:"; pruning a version deletes its rows from each (its release row too).
CATALOGUE = "catalogue"  # "<version>:catalogue": the version's card fields of every movie, which user lists' items join
CATALOGUE_FEATURES = ["movie_ids", "cards"]
VERSIONED_VIEWS = ("user_recommendations", "similar_movies", "movie_cards", "publish_manifest", "list_catalogue")


def repo_config(cfg: Config) -> dict:
    """feature_store.yaml content for `cfg`: SQLite or Redis online store by configuration."""
    if cfg.feast.online_store == "redis":
        online = {"type": "redis", "connection_string": cfg.feast.redis_connection}
    else:
        online = {"type": "sqlite", "path": cfg.feast.sqlite_path}
    return {
        "project": cfg.feast.project,
        "provider": "local",
        # Never re-read the registry in a running reader: a refresh costs a request tens of milliseconds, and
        # publishes change rows, not definitions (new definitions come with a deploy, i.e. a restart).
        "registry": {"path": str(Path(cfg.feast.repo_dir) / "registry.db"), "cache_ttl_seconds": 0},
        "online_store": online,
        # Point-in-time joins run on the pipeline's Spark session (see features/repo.py).
        "offline_store": {"type": "spark"},
        "entity_key_serialization_version": 3,
        # Materialise only each entity's latest row: Feast's default pulls every row of the gold tables' history
        # to the driver and keeps the latest there (11.6M user rows at 100k users: the driver's JVM ran out of heap).
        "materialization": {"pull_latest_features": True},
    }


def open_store(cfg: Config):
    """A FeatureStore built from `cfg` alone (nothing is written: the API opens it read-only)."""
    os.environ.setdefault("FEAST_USAGE", "False")
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    return FeatureStore(config=RepoConfig(repo_path=Path(cfg.feast.repo_dir), **repo_config(cfg)))


def write_repo_files(cfg: Config) -> Path:
    """Create the repo folder with a feature_store.yaml, so the `feast` CLI (and `feast serve`) works on it too."""
    repo = Path(cfg.feast.repo_dir)
    (repo / "data").mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(repo_config(cfg), sort_keys=False))
    return repo


def list_key(version: str, variant: str, user: int | str) -> str:
    return f"{version}:{variant}:{user}"


def movie_key(version: str, movie_id: int) -> str:
    return f"{version}:{movie_id}"


def release_key(version: str) -> str:
    return f"{version}:{RELEASE}"


def catalogue_key(version: str) -> str:
    return f"{version}:{CATALOGUE}"


@dataclass(frozen=True)
class Manifest:
    version: str
    published_at: str
    experiment: str
    variants: list[str]     # one per hash range of serving.variants.assign (a withheld arm's range names the control)
    weights: list[float]

    @property
    def arms(self) -> list[str]:
        """The variants this version serves, each once."""
        return list(dict.fromkeys(self.variants))


@dataclass(frozen=True)
class ItemList:
    """A published list as served: `items` are the response's JSON objects in rank order (a user list's are put
    together as they are read). `generated_at` is empty for similar-movie lists."""

    movie_ids: list[int]
    items: Sequence[str]
    generated_at: str | None = None
    segment: str | None = None      # a user known only by their profile: their segment's list is served

    def field(self, name: str) -> list:
        """One field of every item, decoded (for tools and tests: the API never decodes)."""
        return [json.loads(item)[name] for item in self.items]


@dataclass(frozen=True)
class MovieCard:
    movie_id: int
    title: str
    year: int
    genres: list[str]
    overview: str
    runtime: float | None
    vote_average: float | None
    poster_path: str
    director: str


INLINE_BUDGET_SECONDS = 0.002


class InlineGaveUp(Exception):
    """An inline read found the database locked or ran past its budget: read again where a deadline can wait."""


class SqliteRows:
    """Single rows of the published views straight from the SQLite online store's tables, on the calling thread:
    the table, key encoding and value protos Feast's `online_read` uses (tested equal to it), on a read-only
    connection of its own. A read that finds the database locked, or runs past `budget_seconds` (checked every
    1,000 SQLite steps), raises InlineGaveUp instead of waiting: the caller must not be held up."""

    def __init__(self, config, budget_seconds: float = INLINE_BUDGET_SECONDS) -> None:
        self.config = config
        self.budget = budget_seconds
        self.deadline = 0.0
        self.conn: sqlite3.Connection | None = None
        self._sql: dict[str, str] = {}

    def _connect(self) -> sqlite3.Connection:
        # timeout=0: a locked database answers at once; autocommit: every read sees the latest commit.
        conn = sqlite3.connect(f"file:{sqlite_path(self.config)}?mode=ro", uri=True, timeout=0,
                               check_same_thread=False, isolation_level=None)
        conn.set_progress_handler(lambda: time.monotonic() > self.deadline, 1000)
        return conn

    def values(self, view, key: str) -> dict:
        """Every stored feature value (ValueProto) of `view`'s row at the string entity `key`; empty when none."""
        from feast.infra.online_stores.helpers import compute_table_id
        from feast.protos.feast.types.Value_pb2 import Value

        [join_key] = view.join_keys
        sql = self._sql.get(view.name)
        if sql is None:
            table = compute_table_id(self.config.project, view, self.config.registry.enable_online_feature_view_versioning)
            sql = self._sql[view.name] = f'SELECT feature_name, value FROM "{table}" WHERE entity_key = ?'
        entity = string_entity_key(join_key, key, self.config.entity_key_serialization_version)
        try:
            if self.conn is None:   # opening it and reading the schema are once, not part of a read's budget
                self.deadline = float("inf")
                self.conn = self._connect()
                self.conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
            self.deadline = time.monotonic() + self.budget
            rows = self.conn.execute(sql, (entity,)).fetchall()
        except sqlite3.Error as exc:
            raise InlineGaveUp(f"{type(exc).__name__}: {exc}") from exc
        out = {}
        for name, blob in rows:
            value = Value()
            value.ParseFromString(blob)
            out[name] = value
        return out


class RedisRows:
    """Single rows of the published views from a Redis online store, awaited on the event loop rather than on a
    thread: Feast's key (the encoded entity key, then the project's name), hash fields (murmur3 of
    "<view>:<feature>") and value protos, as its `online_read` reads them (tested equal to it). A plain Redis is
    read through one pipelined connection per event loop (serving.redis_pipeline), a cluster or sentinel through
    Feast's own redis-py async client; the connection string is Feast's either way."""

    def __init__(self, config) -> None:
        self.config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = None                          # redis-py's, for a cluster or sentinel
        self._connecting: asyncio.Task | None = None  # the pipelined connection, shared by the reads that wait on it
        self._fields: dict[tuple[str, tuple[str, ...]], list[bytes]] = {}

    @property
    def pipelined(self) -> bool:
        store = self.config.online_store
        return store.redis_type == "redis" and store.client == "redis"

    async def _hmget(self, key: bytes, fields: list[bytes]) -> list:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # connections belong to the loop that opened them
            self._loop, self._client, self._connecting = loop, None, None
        if not self.pipelined:
            if self._client is None:
                from feast.infra.online_stores.redis import RedisOnlineStore

                self._client = await RedisOnlineStore()._get_client_async(self.config.online_store)
            return await self._client.hmget(key, fields)
        task = self._connecting
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None or not task.result().open)):
            task = self._connecting = loop.create_task(self._connect())
        # A read that gives up at its deadline must not cancel the connect the other reads wait on.
        connection = await asyncio.shield(task)
        return await connection.call(b"HMGET", key, *fields)

    async def _connect(self):
        from feast.infra.online_stores.redis import RedisOnlineStore

        from serving.redis_pipeline import PipelinedRedis

        [node, *_], params = RedisOnlineStore._parse_connection_string(self.config.online_store.connection_string)
        return await PipelinedRedis.connect(node["host"], int(node["port"]), password=params.get("password"),
                                            username=params.get("username"), db=int(params.get("db", 0)),
                                            ssl=bool(params.get("ssl", False)))

    async def values(self, view, key: str, names: list[str]) -> dict:
        """The stored feature values (ValueProto) of `names` in `view`'s row at the string entity `key`; the
        features it does not hold are left out (none at all: no row)."""
        from feast.infra.online_stores.helpers import _mmh3
        from feast.infra.online_stores.redis import _versioned_fv_name
        from feast.protos.feast.types.Value_pb2 import Value

        [join_key] = view.join_keys
        fields = self._fields.get((view.name, tuple(names)))
        if fields is None:
            name = _versioned_fv_name(view, self.config)
            fields = self._fields[(view.name, tuple(names))] = [_mmh3(f"{name}:{feature}") for feature in names]
        entity = string_entity_key(join_key, key, self.config.entity_key_serialization_version)
        found = await self._hmget(entity + self.config.project.encode(), fields)
        return {feature: Value.FromString(blob) for feature, blob in zip(names, found) if blob is not None}


class StaleListFormat(Exception):
    """A user list written in the format before catalogues: the reader cannot put its items together."""


class OnlineLists:
    """Reads single rows of the published views through the provider's `online_read`, the call Feast's
    own feature server ends in, without `get_online_features`' per-call request planning: every read
    here is one row of one view by its key. Feature views are looked up once. With a SQLite online store a
    read can also be made `inline` (SqliteRows): on the caller's thread, giving up rather than waiting. With
    Redis it can be awaited on the event loop (`*_async`, RedisRows)."""

    KEPT_CATALOGUES = 4  # the live version's, the one before it (readers mid-flip) and a little slack

    def __init__(self, store) -> None:
        self.store = store
        self._tables: dict = {}
        self._catalogues: dict[str, dict[int, str]] = {}
        self._assembler = Assembler()
        self._inline = SqliteRows(store.config) if self.reads_inline else None
        self._async = RedisRows(store.config) if self.reads_async else None

    @property
    def reads_inline(self) -> bool:
        return self.store.config.online_store.type == "sqlite"

    @property
    def reads_async(self) -> bool:
        return self.store.config.online_store.type == "redis"

    def _table(self, view: str):
        table = self._tables.get(view)
        if table is None:
            table = self._tables[view] = self.store.get_feature_view(view, allow_registry_cache=True)
        return table

    def _row(self, view: str, names: list[str], key_name: str, key: str, inline: bool = False) -> dict | None:
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        if inline and self._inline is not None:
            values = self._inline.values(self._table(view), key)
        else:
            entity = EntityKey(join_keys=[key_name], entity_values=[Value(string_val=key)])
            # A copy: the Redis store appends its timestamp column to the list it is given.
            [(_, values)] = self.store.provider.online_read(config=self.store.config, table=self._table(view),
                                                             entity_keys=[entity], requested_features=list(names))
        return _decoded(values, names)

    async def _row_async(self, view: str, names: list[str], key: str) -> dict | None:
        return _decoded(await self._async.values(self._table(view), key, names), names)

    def manifest(self) -> Manifest | None:
        """What is served now, or None when nothing has been published."""
        from feast.errors import FeatureViewNotFoundException

        try:
            row = self._row("publish_manifest", MANIFEST_FEATURES, "manifest_id", CURRENT)
        except FeatureViewNotFoundException:
            # Started before the first publish: the cached registry has no views yet. Look again next time.
            self.store.refresh_registry()
            return None
        return Manifest(**row) if row else None

    def release(self, version: str) -> Manifest | None:
        """The manifest `version` went live with; None if it never did (a publish that failed half-way) or was pruned."""
        row = self._row("publish_manifest", MANIFEST_FEATURES, "manifest_id", release_key(version))
        return Manifest(**row) if row else None

    def versions(self) -> list[str]:
        """Every version whose rows the online store may hold, newest first: the publisher's record, for pruning."""
        row = self._row("publish_manifest", ["versions"], "manifest_id", HELD)
        if row is not None and row["versions"]:
            return list(row["versions"])
        manifest = self.manifest()  # a store published to before versions were recorded: the live one
        return [manifest.version] if manifest is not None and manifest.version else []

    def user_list(self, version: str, variant: str, user: int | str, inline: bool = False) -> ItemList | None:
        row = self._row("user_recommendations", USER_LIST_FEATURES, "list_key", list_key(version, variant, user), inline)
        if not row:
            return None
        cards = self._catalogues.get(version)
        if cards is None:
            if inline:  # a few MB, once a version: not within an inline read's budget (the reader's refresh loads it)
                raise InlineGaveUp(f"the catalogue of version {version} is not loaded yet")
            cards = self._keep(version, self._row("list_catalogue", CATALOGUE_FEATURES, "manifest_id",
                                                  catalogue_key(version)))
        return self._user_list(row, cards)

    async def user_list_async(self, version: str, variant: str, user: int | str) -> ItemList | None:
        row = await self._row_async("user_recommendations", USER_LIST_FEATURES, list_key(version, variant, user))
        if not row:
            return None
        cards = self._catalogues.get(version)
        if cards is None:
            cards = self._keep(version, await self._row_async("list_catalogue", CATALOGUE_FEATURES, catalogue_key(version)))
        return self._user_list(row, cards)

    def _user_list(self, row: dict, cards: dict[int, str]) -> ItemList:
        if row["movie_ids"] and row["scores"] is None:
            raise StaleListFormat("this version's user lists were published before lists were stored as arrays "
                                  "(2026-11-29): publish a new version")
        items = self._assembler.items(*(row[name] or [] for name in ("movie_ids", "scores", "reasons", "reason_ids",
                                                                      "slots")), cards)
        return ItemList(row["movie_ids"] or [], items, row["generated_at"], row["segment"])

    def _keep(self, version: str, row: dict | None) -> dict[int, str]:
        if not row:  # not written (yet): read again next time rather than keep an empty catalogue
            return {}
        cards = dict(zip(row["movie_ids"], row["cards"]))
        while len(self._catalogues) >= self.KEPT_CATALOGUES:
            self._catalogues.pop(next(iter(self._catalogues)))
        self._catalogues[version] = cards
        return cards

    def similar(self, version: str, movie_id: int, inline: bool = False) -> ItemList | None:
        row = self._row("similar_movies", LIST_FEATURES, "movie_key", movie_key(version, movie_id), inline)
        return ItemList(**row) if row else None

    def card(self, version: str, movie_id: int, inline: bool = False) -> MovieCard | None:
        row = self._row("movie_cards", CARD_FEATURES, "movie_key", movie_key(version, movie_id), inline)
        return MovieCard(movie_id=movie_id, **row) if row else None

    async def similar_async(self, version: str, movie_id: int) -> ItemList | None:
        row = await self._row_async("similar_movies", LIST_FEATURES, movie_key(version, movie_id))
        return ItemList(**row) if row else None

    async def card_async(self, version: str, movie_id: int) -> MovieCard | None:
        row = await self._row_async("movie_cards", CARD_FEATURES, movie_key(version, movie_id))
        return MovieCard(movie_id=movie_id, **row) if row else None


def _decoded(values: dict, names: list[str]) -> dict | None:
    """Python values of `names` from a row's value protos; None when there is no row (Redis answers a key it does
    not hold with empty values, SQLite with none)."""
    from feast.type_map import feast_value_type_to_python_type

    if not values or names[0] not in values or values[names[0]].WhichOneof("val") is None:
        return None
    return {name: feast_value_type_to_python_type(values[name]) if name in values else None for name in names}


def use_wal(store) -> None:
    """A SQLite online store in WAL mode (kept in the file): the API's reads then never wait for a publish's
    write transactions, nor the writer for reads. Rollback-journal mode locks readers out of every write."""
    if store.config.online_store.type == "sqlite":
        with sqlite3.connect(sqlite_path(store.config), timeout=30) as conn:
            conn.execute("PRAGMA journal_mode=WAL")


def delete_versions(store, versions: list[str]) -> int:
    """Delete every row of `versions` from the online store's versioned views; return the rows (SQLite) or the
    keys (Redis) deleted. Feast has no delete by key for every store, so this matches its key encoding here."""
    if not versions:
        return 0
    views = [store.get_feature_view(name) for name in VERSIONED_VIEWS]
    kind = store.config.online_store.type
    if kind == "sqlite":
        return _delete_sqlite(store.config, views, versions)
    if kind == "redis":
        return _delete_redis(store.config, views, versions)
    raise ValueError(f"pruning versions from a {kind} online store is not supported")


def string_entity_key(join_key: str, value: str, serialization_version: int) -> bytes:
    """Feast's encoded entity key of a string `value` of `join_key`, as its online stores key rows (Redis adds the
    project's name after it)."""
    raw = value.encode()
    return entity_key_head(join_key, serialization_version) + struct.pack("<I", len(raw)) + raw


@functools.cache
def entity_key_head(join_key: str, serialization_version: int) -> bytes:
    """The bytes Feast's entity key encoding puts before a string value of `join_key`; the value's 4-byte length
    and the value follow them."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    probe = b"x"
    encoded = serialize_entity_key(EntityKey(join_keys=[join_key], entity_values=[Value(string_val=probe.decode())]),
                                   entity_key_serialization_version=serialization_version)
    tail = struct.pack("<I", len(probe)) + probe
    if not encoded.endswith(tail):
        raise RuntimeError("Feast's entity key encoding changed: pruning cannot find a version's keys")
    return encoded[:-len(tail)]


def _version_prefix(version: str) -> bytes:
    return f"{version}:".encode()


def sqlite_path(config) -> str:
    path = Path(config.online_store.path)
    return str(path if path.is_absolute() or config.repo_path is None else Path(config.repo_path) / path)


def _delete_sqlite(config, views: list, versions: list[str], batch_rows: int = 50_000) -> int:
    """DELETE rows whose entity value starts with "<version>:", by rowid range: each batch is a short write
    transaction, so the API's reads (of the live version) wait milliseconds, not the whole prune."""
    from feast.infra.online_stores.helpers import compute_table_id

    deleted = 0
    with sqlite3.connect(sqlite_path(config), timeout=30) as conn:
        for view in views:
            table = compute_table_id(config.project, view, config.registry.enable_online_feature_view_versioning)
            [join_key] = view.join_keys
            head = entity_key_head(join_key, config.entity_key_serialization_version)
            start = len(head) + 4 + 1  # 1-based, past the value's length
            sql = (f'DELETE FROM "{table}" WHERE rowid >= ? AND rowid < ? AND substr(entity_key, 1, ?) = ? '
                   f"AND substr(entity_key, ?, ?) = ?")
            (top,) = conn.execute(f'SELECT max(rowid) FROM "{table}"').fetchone()
            for low in range(0, (top or 0) + 1, batch_rows):
                with conn:
                    for version in versions:
                        prefix = _version_prefix(version)
                        deleted += conn.execute(sql, (low, low + batch_rows, len(head), head, start, len(prefix),
                                                      prefix)).rowcount
    return deleted


def redis_glob_escape(raw: bytes) -> bytes:
    return b"".join(b"\\" + bytes([b]) if b in b"*?[]\\" else bytes([b]) for b in raw)


def version_key_pattern(join_key: str, version: str, project: str, serialization_version: int) -> bytes:
    """SCAN pattern of the Redis keys of `version` for `join_key`: Feast's key is the encoded entity key, then
    the project's name; any 4 bytes stand for the value's length."""
    head = entity_key_head(join_key, serialization_version)
    return (redis_glob_escape(head) + b"????" + redis_glob_escape(_version_prefix(version)) + b"*"
            + redis_glob_escape(project.encode()))


def _delete_redis(config, views: list, versions: list[str], batch_keys: int = 10_000) -> int:
    """SCAN for each version's keys and UNLINK them in pipelined batches. One key holds every view of its
    entity (similar movies and movie cards share theirs), so each join key is scanned once."""
    from feast.infra.online_stores.redis import RedisOnlineStore

    client = RedisOnlineStore()._get_client(config.online_store)
    join_keys = sorted({key for view in views for key in view.join_keys})
    deleted = 0
    for join_key in join_keys:
        for version in versions:
            pattern = version_key_pattern(join_key, version, config.project, config.entity_key_serialization_version)
            batch: list[bytes] = []
            for key in client.scan_iter(match=pattern, count=batch_keys):
                batch.append(key)
                if len(batch) >= batch_keys:
                    deleted += _unlink(client, batch)
                    batch = []
            deleted += _unlink(client, batch)
    return deleted


def _unlink(client, keys: list[bytes]) -> int:
    if not keys:
        return 0
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.unlink(key)
        return sum(pipe.execute())


def delete_entities(store, view: str, values: list[int | str]) -> int:
    """Delete `view`'s rows at exactly these entity values (erasure: a user's activity row, a user's list in each
    version and variant); return the rows (SQLite) or keys (Redis) deleted.

    SQLite overwrites what it deletes (secure_delete) and folds its write-ahead log back into the file, so the
    bytes are gone from disk, not just unlinked. In Redis a key holds every view of its entity: here those are
    all the user's."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    if not values:
        return 0
    table = store.get_feature_view(view)
    [join_key] = table.join_keys
    config = store.config
    keys = [serialize_entity_key(EntityKey(join_keys=[join_key], entity_values=[
        Value(int64_val=value) if isinstance(value, int) else Value(string_val=value)]),
        entity_key_serialization_version=config.entity_key_serialization_version) for value in values]
    kind = config.online_store.type
    if kind == "sqlite":
        return _delete_sqlite_keys(config, table, keys)
    if kind == "redis":
        from feast.infra.online_stores.redis import RedisOnlineStore

        client = RedisOnlineStore()._get_client(config.online_store)
        # Feast's Redis key: the encoded entity key, then the project's name (see version_key_pattern).
        return _unlink(client, [key + config.project.encode() for key in keys])
    raise ValueError(f"deleting rows from a {kind} online store is not supported")


def _delete_sqlite_keys(config, view, keys: list[bytes]) -> int:
    from feast.infra.online_stores.helpers import compute_table_id

    table = compute_table_id(config.project, view, config.registry.enable_online_feature_view_versioning)
    conn = sqlite3.connect(sqlite_path(config), timeout=30)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        with conn:
            deleted = sum(conn.execute(f'DELETE FROM "{table}" WHERE entity_key = ?', (key,)).rowcount for key in keys)
        # Earlier page images in the log still hold the rows until it is checkpointed and emptied.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return deleted
