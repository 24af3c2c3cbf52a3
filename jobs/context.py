"""Config from the parameters a run is started with: Airflow params or CLI flags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conf import Config, load_config


def config_from_params(params: Mapping[str, Any]) -> Config:
    """params: env, workdir, source, data_dir, tmdb_dir (each optional) and `overrides`, a nested mapping."""
    overrides: dict[str, Any] = dict(params.get("overrides") or {})
    if params.get("workdir"):
        overrides["workdir"] = params["workdir"]
    source = {key: params[name] for key, name in (("kind", "source"), ("data_dir", "data_dir"), ("tmdb_dir", "tmdb_dir"))
              if params.get(name)}
    if source:
        overrides["source"] = {**overrides.get("source", {}), **source}
    return load_config(params.get("env") or None, overrides)
