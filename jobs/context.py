"""Config from the parameters a run is started with: Airflow params or CLI flags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conf import Config, load_config

# The parameters a DAG run takes, as JSON-schema fragments; the DAG files wrap them in Airflow Params.
RUN_PARAMS: dict[str, dict[str, Any]] = {
    "env": {"default": None, "type": ["null", "string"], "description": "conf/<env>.yaml; default $MOVIEREC_ENV or local"},
    "workdir": {"default": None, "type": ["null", "string"], "description": "lake, runs, Feast repo and MLflow store"},
    "source": {"default": None, "type": ["null", "string"], "enum": [None, "synthetic", "movielens"]},
    "data_dir": {"default": None, "type": ["null", "string"]},
    "tmdb_dir": {"default": None, "type": ["null", "string"]},
    "overrides": {"default": {}, "type": "object", "description": "nested config overrides"},
}


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
