"""Per-run state (a JSON file under runs/<run_id>/ that each step reads and extends) and the paths of
what the steps hand each other there."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, UTC
from pathlib import Path

from conf import Config
from jobs.errors import PipelineError


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def safe_run_id(raw: str) -> str:
    """A run id usable in paths and Delta predicates, e.g. from Airflow's "manual__2026-01-01T00:00:00+00:00"."""
    return re.sub(r"[^A-Za-z0-9_.-]", "", raw.split("+")[0])


def state_path(cfg: Config, run_id: str) -> Path:
    return cfg.run_dir(run_id) / "state.json"


def model_path(cfg: Config, run_id: str, split: str) -> Path:
    return cfg.run_dir(run_id) / split / "models.pkl"


def test_path(cfg: Config, run_id: str) -> Path:
    return cfg.run_dir(run_id) / "eval" / "test_events.parquet"


def load_state(cfg: Config, run_id: str) -> dict:
    path = state_path(cfg, run_id)
    if not path.exists():
        raise PipelineError(f"run {run_id} has no state at {path}: run the train step first")
    return json.loads(path.read_text())


def update_state(cfg: Config, run_id: str, **fields) -> dict:
    path = state_path(cfg, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = json.loads(path.read_text()) if path.exists() else {"run_id": run_id}
    state.update(fields)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str))
    tmp.replace(path)
    return state
