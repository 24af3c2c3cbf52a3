"""Opening the Feast store and reading published lists: shared by the publisher and the API."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from conf import Config

FALLBACK = "__fallback__"
CURRENT = "current"
LIST_FEATURES = ["movie_ids", "scores", "reasons", "titles", "years", "generated_at"]


def repo_config(cfg: Config) -> dict:
    """feature_store.yaml content for `cfg`: SQLite or Redis online store by configuration."""
    if cfg.feast.online_store == "redis":
        online = {"type": "redis", "connection_string": cfg.feast.redis_connection}
    else:
        online = {"type": "sqlite", "path": cfg.feast.sqlite_path}
    return {
        "project": cfg.feast.project,
        "provider": "local",
        "registry": {"path": str(Path(cfg.feast.repo_dir) / "registry.db"), "cache_ttl_seconds": 60},
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }


def open_store(cfg: Config):
    """A FeatureStore built from `cfg` alone (nothing is written: the API opens it read-only)."""
    os.environ.setdefault("FEAST_USAGE", "False")
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    return FeatureStore(config=RepoConfig(repo_path=Path(cfg.feast.repo_dir), **repo_config(cfg)))


def write_repo_files(cfg: Config) -> Path:
    """Create the repo folder with a feature_store.yaml, so the `feast` CLI works on it too."""
    repo = Path(cfg.feast.repo_dir)
    (repo / "data").mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(repo_config(cfg), sort_keys=False))
    return repo


def list_key(version: str, user: int | str) -> str:
    return f"{version}:{user}"


@dataclass(frozen=True)
class PublishedList:
    movie_ids: list[int]
    scores: list[float]
    reasons: list[str]
    titles: list[str]
    years: list[int | None]
    generated_at: str


def read_manifest(store) -> str | None:
    """The version currently served, or None when nothing has been published."""
    from feast.errors import FeatureViewNotFoundException

    try:
        values = store.get_online_features(
            features=["publish_manifest:version"], entity_rows=[{"manifest_id": CURRENT}]
        ).to_dict()
    except FeatureViewNotFoundException:
        return None  # nothing was ever applied to this store
    return values["version"][0]


def read_list(store, version: str, user: int | str) -> PublishedList | None:
    values = store.get_online_features(
        features=[f"user_recommendations:{name}" for name in LIST_FEATURES],
        entity_rows=[{"list_key": list_key(version, user)}],
    ).to_dict()
    if values["movie_ids"][0] is None:
        return None
    return PublishedList(**{name: values[name][0] for name in LIST_FEATURES})
