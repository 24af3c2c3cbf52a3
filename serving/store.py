"""Opening the Feast store and reading what is published: shared by the publisher, the API and the bench."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from conf import Config

FALLBACK = "__fallback__"
CURRENT = "current"
LIST_FEATURES = ["movie_ids", "scores", "titles", "years", "genres", "poster_paths"]
USER_LIST_FEATURES = [*LIST_FEATURES, "reasons", "slots", "generated_at"]
CARD_FEATURES = ["title", "year", "genres", "overview", "runtime", "vote_average", "poster_path", "director"]
MANIFEST_FEATURES = ["version", "published_at", "experiment", "variants", "weights"]
GENRE_SEPARATOR = "|"


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


@dataclass(frozen=True)
class Manifest:
    version: str
    published_at: str
    experiment: str
    variants: list[str]
    weights: list[float]


@dataclass(frozen=True)
class ItemList:
    """A published list; the per-item fields line up. `reasons`, `slots` and `generated_at`
    are empty for similar-movie lists."""

    movie_ids: list[int]
    scores: list[float]
    titles: list[str]
    years: list[int]
    genres: list[str]            # per item, joined by GENRE_SEPARATOR
    poster_paths: list[str]
    reasons: list[str] | None = None
    slots: list[str] | None = None
    generated_at: str | None = None


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


class OnlineLists:
    """Reads single rows of the published views through the provider's `online_read`, the call Feast's
    own feature server ends in, without `get_online_features`' per-call request planning: every read
    here is one row of one view by its key. Feature views are looked up once."""

    def __init__(self, store) -> None:
        self.store = store
        self._tables: dict = {}

    def _table(self, view: str):
        table = self._tables.get(view)
        if table is None:
            table = self._tables[view] = self.store.get_feature_view(view, allow_registry_cache=True)
        return table

    def _row(self, view: str, names: list[str], key_name: str, key: str) -> dict | None:
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value
        from feast.type_map import feast_value_type_to_python_type

        entity = EntityKey(join_keys=[key_name], entity_values=[Value(string_val=key)])
        # A copy: the Redis store appends its timestamp column to the list it is given.
        [(_, values)] = self.store.provider.online_read(config=self.store.config, table=self._table(view),
                                                         entity_keys=[entity], requested_features=list(names))
        if not values or names[0] not in values:
            return None
        return {name: feast_value_type_to_python_type(values[name]) if name in values else None for name in names}

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

    def user_list(self, version: str, variant: str, user: int | str) -> ItemList | None:
        row = self._row("user_recommendations", USER_LIST_FEATURES, "list_key", list_key(version, variant, user))
        return ItemList(**row) if row else None

    def similar(self, version: str, movie_id: int) -> ItemList | None:
        row = self._row("similar_movies", LIST_FEATURES, "movie_key", movie_key(version, movie_id))
        return ItemList(**row) if row else None

    def card(self, version: str, movie_id: int) -> MovieCard | None:
        row = self._row("movie_cards", CARD_FEATURES, "movie_key", movie_key(version, movie_id))
        return MovieCard(movie_id=movie_id, **row) if row else None
