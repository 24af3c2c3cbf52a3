"""Train: generators, the ALS grid and the XGBoost ranker (on Spark), on silver pinned to one Delta version.

split="eval" fits on each user's first 80% of events, or all but the last positive one (`evaluation.protocol`; the
rest is kept for evaluation);
split="full" fits on everything, for the lists that get published. The eval split trains the ranker
in two stages (see models/training.py) so its labels come after its generators' data; the full split
ships that ranker and ALS setting with generators refitted on everything (`models.ranker.refit_on_full`
repeats both stages on the full data instead).
"""

from __future__ import annotations

import json
import pickle
import time
from functools import partial

import numpy as np
import pandas as pd
import xgboost as xgb
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from conf import Config
from conf.settings import AlsConfig
from data_contracts import columns as S
from jobs import lake, runs
from jobs.errors import PipelineError
from jobs.progress import spark_tasks, track
from jobs.training_events import read_events
from models.data import DAY, build_training_set
from models.candidate_features import feature_names
from models.ranker import Ranker
from models.segments import profile_columns
from models.recommend import FittedModels
from models.split import held_out_relevant, hold_out
from models.training import StoreLookup, assemble, fit_generators, lookup_store, ranker_rows, scoring_ms_per_user, stage_one

SPLITS = ("eval", "full")
MOVIE_COLUMNS = [S.MOVIE_ID, "title", "year", "genres", "overview", "keywords", "cast", "director", "runtime",
                 "vote_average", "vote_count", "release_date", "adult"]
USERS_PER_TASK = 200


def load_inputs(cfg: Config, spark: SparkSession, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(events, movies, users) as pandas at the run's pinned silver versions (see `read_inputs`)."""
    return read_inputs(cfg, spark, runs.load_state(cfg, run_id)["silver_versions"])


def read_inputs(cfg: Config, spark: SparkSession, versions: dict[str, int | None]
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(events, movies, users) as pandas at silver `versions` (table name -> Delta version, None: the latest);
    events as compact columns (see jobs/training_events.py), in a fixed order: Spark's partition order varies,
    and with it the fitted models."""
    live = lake.read(spark, cfg.table_path("silver", "movies"), versions["movies"]).where(~F.col("deleted"))
    movies = live.select(*MOVIE_COLUMNS).toPandas().sort_values(S.MOVIE_ID)
    # A retired movie leaves the catalog, and its events the training data: nothing may recommend it.
    events = read_events(spark, cfg.table_path("silver", "interactions"), versions["interactions"],
                         movies[S.MOVIE_ID].to_numpy())
    users = lake.read(spark, cfg.table_path("silver", "users"), versions["users"])
    users = users.select(S.USER_ID, *profile_columns(users.columns, cfg.models.segments)).toPandas()
    if events.empty:
        raise PipelineError("silver interactions is empty: nothing to train on (did ingest quarantine every row?)")
    return events, movies, users


def train_ranker(cfg: Config, spark: SparkSession, stage1: FittedModels, relevant, users: np.ndarray,
                 run_id: str, split: str) -> tuple[Ranker, dict]:
    """Build the labelled candidate rows on the cluster (kept as gold `ranker_training`), then fit
    `SparkXGBRanker` (rank:ndcg, query = user)."""
    from xgboost.spark import SparkXGBRanker

    features = feature_names(list(stage1.generators), stage1.context.store.pair_names)
    payload = spark.sparkContext.broadcast(pickle.dumps((stage1, relevant), protocol=pickle.HIGHEST_PROTOCOL))
    schema = T.StructType([T.StructField("qid", T.LongType()), T.StructField("item_idx", T.LongType()),
                           T.StructField("label", T.FloatType())]
                          + [T.StructField(f, T.DoubleType()) for f in features])

    def rows_for(batches):
        models, rel = pickle.loads(payload.value)
        for batch in batches:
            user_idx = batch["user_idx"].to_numpy(dtype=np.int64)
            for chunk in np.array_split(user_idx, max(1, len(user_idx) // USERS_PER_TASK)):
                yield ranker_rows(models, chunk, rel)

    partitions = max(1, min(spark.sparkContext.defaultParallelism * 2, len(users) // USERS_PER_TASK + 1))
    frame = (spark.createDataFrame(pd.DataFrame({"user_idx": users}))
             .repartition(partitions).mapInPandas(rows_for, schema).cache())
    with spark_tasks(spark, "labelling ranker candidates"):
        lake.replace_where(frame.withColumn(S.RUN_ID, F.lit(run_id)).withColumn(S.SPLIT, F.lit(split)),
                           cfg.table_path("gold", "ranker_training"), {S.RUN_ID: run_id, S.SPLIT: split}, [S.RUN_ID, S.SPLIT])
    n_rows = frame.count()
    if n_rows == 0:
        payload.unpersist()
        frame.unpersist()
        raise PipelineError("the ranker has no labelled candidates: no user's later events were retrieved")
    rc = cfg.models.ranker
    start = time.perf_counter()
    estimator = SparkXGBRanker(
        features_col=features, label_col="label", qid_col="qid", num_workers=rc.num_workers,
        objective="rank:ndcg", n_estimators=rc.n_estimators, max_depth=rc.max_depth, learning_rate=rc.learning_rate,
        min_child_weight=rc.min_child_weight, subsample=rc.subsample, tree_method="hist", random_state=cfg.seed,
        lambdarank_pair_method="topk", lambdarank_num_pair_per_sample=rc.pairs_per_candidate, missing=float("nan"),
    )
    with spark_tasks(spark, "fitting the ranker"):
        booster = estimator.fit(frame).get_booster()
    booster.set_attr(features=json.dumps(features))   # saved with the model: the full split can ship it as is
    seconds = round(time.perf_counter() - start, 2)
    payload.unpersist()
    frame.unpersist()
    gain = booster.get_score(importance_type="gain")
    importance = {f: round(float(gain.get(f, 0.0)), 4) for f in features}
    summary = {"rows": int(n_rows), "users": int(len(users)), "fit_seconds": seconds,
               "feature_importance_gain": dict(sorted(importance.items(), key=lambda kv: -kv[1]))}
    return Ranker(booster, features, importance), summary


def evaluated_ranker(cfg: Config, run_id: str) -> tuple[Ranker | None, AlsConfig, dict] | None:
    """(ranker, ALS setting, ranker summary) the run's eval split chose, or None when it has not trained
    (or saved a ranker without its feature list). Shipping them with the full split's generators publishes the
    ranker whose lists were measured, and spares the full split a second stage 1 (every generator fitted again,
    candidates labelled, the ranker fitted): about half its time."""
    summary = runs.load_state(cfg, run_id).get("train_eval")
    if summary is None:
        return None
    als = AlsConfig(**summary["als"]["chosen"])
    if not cfg.models.ranker.enabled:
        return None, als, {"enabled": False}
    path = runs.model_path(cfg, run_id, "eval").parent / "ranker.ubj"
    if not summary.get("ranker", {}).get("enabled", True) or not path.exists():
        return None     # the eval split trained no ranker (a file there is an older one's)
    booster = xgb.Booster(model_file=str(path))
    features = booster.attr("features")
    if features is None:
        return None
    ranker_summary = summary.get("ranker", {})
    ranker = Ranker(booster, json.loads(features), ranker_summary.get("feature_importance_gain", {}))
    return ranker, als, {**ranker_summary, "from_split": "eval", "fit_seconds": 0.0}


def store_lookup(cfg: Config, run_id: str) -> tuple[StoreLookup | None, list[str]]:
    """Point-in-time user features through Feast, once the run's features step has written them (and
    unless `models.ranker.store_features` is off)."""
    from jobs.features import user_features_at

    features = runs.load_state(cfg, run_id).get("features")
    if features is None or not cfg.models.ranker.store_features:
        return None, []
    return (lambda rows: user_features_at(cfg, rows)), features["genres"]


def train(cfg: Config, spark: SparkSession, run_id: str, split: str) -> dict:
    """Fit everything for `split`; save it under the run; return what was fitted and how long it took."""
    if split not in SPLITS:
        raise PipelineError(f"split must be one of {SPLITS}, not {split!r}")
    events, movies, users = load_inputs(cfg, spark, run_id)
    store_at, genres = store_lookup(cfg, run_id)
    test = None
    if split == "eval":
        protocol = cfg.evaluation.protocol
        events, test = hold_out(events, protocol, cfg.evaluation.test_fraction, cfg.interactions)
        test = test.assign(relevant=held_out_relevant(test, protocol, cfg.interactions))
        runs.test_path(cfg, run_id).parent.mkdir(parents=True, exist_ok=True)
        test.to_parquet(runs.test_path(cfg, run_id), index=False)
    shipped = evaluated_ranker(cfg, run_id) if split == "full" and not cfg.models.ranker.refit_on_full else None
    stage1_seconds = 0.0
    fitted_before = None
    if shipped is not None:
        ranker, als, ranker_summary = shipped
        als_trials = []
        if "sasrec" in cfg.models.generators and not cfg.models.sasrec.refit:
            fitted_before = pickle.loads(runs.model_path(cfg, run_id, "eval").read_bytes()).generators
    else:
        start = time.perf_counter()
        stage1, relevant, als, als_trials, ranker_users = stage_one(
            events, movies, users, cfg, store_at, genres,
            each=partial(track, what="fitting stage-1 generators", unit="models"))
        stage1_seconds = round(time.perf_counter() - start, 2)
        ranker, ranker_summary = (train_ranker(cfg, spark, stage1, relevant, ranker_users, run_id, split)
                                  if cfg.models.ranker.enabled else (None, {"enabled": False}))
        fitted_before = stage1.generators
    train_set = build_training_set(events, movies, cfg.interactions)
    generators, reference, fit_seconds = fit_generators(
        train_set, cfg, als, each=partial(track, what="fitting generators", unit="models"), fitted_before=fitted_before)
    # Each user is scored as of their first test event (eval) or the end of the data (full).
    times = (test.groupby(S.USER_ID)[S.TS].min() if test is not None else
             pd.Series(pd.Timestamp(train_set.as_of + DAY, unit="s", tz="UTC"), index=train_set.user_ids))
    store = lookup_store(store_at, train_set, times, genres)
    fitted = assemble(train_set, generators, reference, ranker, cfg, users, store)
    if ranker is not None and ranker.features != feature_names(list(generators), fitted.context.store.pair_names):
        raise PipelineError(f"the {split} split's candidate features differ from those the ranker was trained on "
                            "(did the generators or the feature store change since the eval split?): train the eval "
                            "split again, or set models.ranker.refit_on_full")
    path = runs.model_path(cfg, run_id, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(fitted, protocol=pickle.HIGHEST_PROTOCOL))
    if ranker is not None:
        ranker.booster.save_model(str(path.parent / "ranker.ubj"))
    summary = {
        "fit_seconds": fit_seconds,
        "score_ms_per_user": scoring_ms_per_user({**generators, **reference}, train_set, cfg.models.candidates_per_generator),
        "stage1_seconds": stage1_seconds,
        "als": {"chosen": als.model_dump(), "trials": als_trials},
        "ranker": ranker_summary,
        "train_users": train_set.n_users, "items": train_set.n_items, "train_events": int(len(events)),
    }
    runs.update_state(cfg, run_id, **{f"train_{split}": summary})
    return summary
