"""Train: fit every configured generator on silver interactions pinned to one Delta version.

split="eval" fits on each user's first 80% of events (the rest is kept for evaluation);
split="full" fits on everything, for the lists that get published.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from conf import Config
from data_contracts import columns as S
from jobs import lake, runs
from jobs.errors import PipelineError
from models.data import build_training_set, is_relevant
from models.recommend import FittedModels
from models.registry import build_generators
from models.split import temporal_split

SPLITS = ("eval", "full")
EVENT_COLUMNS = [S.EVENT_ID, S.USER_ID, S.MOVIE_ID, S.EVENT_TYPE, S.VALUE, S.TS]


def load_events(cfg: Config, spark: SparkSession, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(events, catalog) as pandas at the run's pinned silver versions."""
    versions = runs.load_state(cfg, run_id)["silver_versions"]
    events = lake.read(spark, cfg.table_path("silver", "interactions"), versions["interactions"]).select(*EVENT_COLUMNS).toPandas()
    catalog = (lake.read(spark, cfg.table_path("silver", "movies"), versions["movies"])
               .select(S.MOVIE_ID, "title", "year").toPandas().sort_values(S.MOVIE_ID))
    if events.empty:
        raise PipelineError("silver interactions is empty: nothing to train on (did ingest quarantine every row?)")
    return events, catalog


def model_path(cfg: Config, run_id: str, split: str) -> Path:
    return cfg.run_dir(run_id) / split / "models.pkl"


def test_path(cfg: Config, run_id: str) -> Path:
    return cfg.run_dir(run_id) / "eval" / "test_events.parquet"


def train(cfg: Config, spark: SparkSession, run_id: str, split: str) -> dict:
    """Fit the generators for `split`; save them under the run; return fit seconds per generator."""
    if split not in SPLITS:
        raise PipelineError(f"split must be one of {SPLITS}, not {split!r}")
    events, catalog = load_events(cfg, spark, run_id)
    if split == "eval":
        events, test = temporal_split(events, cfg.evaluation.test_fraction)
        test = test.assign(relevant=is_relevant(test, cfg.interactions))
        test_path(cfg, run_id).parent.mkdir(parents=True, exist_ok=True)
        test.to_parquet(test_path(cfg, run_id), index=False)
    train_set = build_training_set(events, catalog[S.MOVIE_ID].to_numpy(), cfg.interactions)
    titles = catalog.set_index(S.MOVIE_ID)["title"].reindex(train_set.item_ids).fillna("an unknown title").to_numpy()
    generators = build_generators(cfg.models, cfg.seed)
    fit_seconds = {}
    for name, generator in generators.items():
        start = time.perf_counter()
        generator.fit(train_set)
        fit_seconds[name] = round(time.perf_counter() - start, 3)
    fitted = FittedModels(generators, train_set, np.asarray(titles, dtype=object),
                          dict(cfg.models.blend.weights), cfg.models.blend.rrf_k)
    path = model_path(cfg, run_id, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(fitted, protocol=pickle.HIGHEST_PROTOCOL))
    summary = {"fit_seconds": fit_seconds, "train_users": train_set.n_users, "items": train_set.n_items,
               "train_events": int(len(events))}
    runs.update_state(cfg, run_id, **{f"train_{split}": summary})
    return summary
