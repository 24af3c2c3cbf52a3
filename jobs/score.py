"""Score: batch recommendations with Spark, `mapInPandas` over users with the models broadcast.

Writes gold `candidates` (each generator's top-N, the EASE reference and the ranker's order
before reranking: for the eval split only, where evaluation reads them), `ranked_lists` (the final, reranked, explained lists: `final` for the control,
`final@<variant>` for the experiment's other arms) and, for the full split, `similar_movies`, all
keyed by (run_id, split). User id -1 stands for "a user we know nothing about": its list is the
fallback that unknown users are served; ids below it are the segment and genre lists (models/segments.py).
"""

from __future__ import annotations

import pickle

import duckdb
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from conf import Config
from data_contracts import columns as S
from jobs import lake, runs
from jobs.progress import spark_tasks
from jobs.runs import model_path, test_path
from jobs.training_events import local_snapshot_files
from models.metrics import sample_users
from models.recommend import FINAL, FittedModels, recommend_users, similar_movies

FALLBACK_USER = -1
USERS_PER_CHUNK = 200
OUTPUT_SCHEMA = T.StructType([
    T.StructField(S.LIST_NAME, T.StringType()), T.StructField(S.USER_ID, T.LongType()),
    T.StructField(S.RANK, T.IntegerType()), T.StructField(S.MOVIE_ID, T.LongType()),
    T.StructField(S.SCORE, T.DoubleType()), T.StructField(S.REASON_TEXT, T.StringType()),
    T.StructField(S.SLOT, T.StringType()),
])
SIMILAR_SCHEMA = T.StructType([
    T.StructField(S.MOVIE_ID, T.LongType()), T.StructField(S.RANK, T.IntegerType()),
    T.StructField("similar_movie_id", T.LongType()), T.StructField(S.SCORE, T.DoubleType()),
])


def users_to_score(cfg: Config, run_id: str, split: str, fitted: FittedModels) -> np.ndarray:
    """eval: users with a training event and `evaluation.min_relevant_test_events` relevant test events on catalog
    movies (evaluate's definition, so every scored user is evaluated), a seeded sample of `evaluation.max_users`
    of them when there are more; full: every user with an event.

    Users with no events get no list of their own: the API serves them the fallback, flagged.
    """
    if split == "full":
        return fitted.train.user_ids
    test = pd.read_parquet(test_path(cfg, run_id), columns=[S.USER_ID, S.MOVIE_ID, "relevant"])
    relevant = test[test["relevant"] & (fitted.train.item_index(test[S.MOVIE_ID].to_numpy()) >= 0)]
    movies_per_user = relevant.groupby(S.USER_ID)[S.MOVIE_ID].nunique()
    users = movies_per_user.index[movies_per_user >= cfg.evaluation.min_relevant_test_events].to_numpy(dtype=np.int64)
    eligible = np.sort(users[fitted.train.user_index(users) >= 0])
    return sample_users(eligible, cfg.evaluation.max_users, cfg.seed)


def score(cfg: Config, spark: SparkSession, run_id: str, split: str) -> dict[str, int]:
    """Recommend for every user of `split` on the cluster; return row counts written."""
    blob = model_path(cfg, run_id, split).read_bytes()
    payload = spark.sparkContext.broadcast(blob)
    fitted = pickle.loads(blob)
    audiences = fitted.segments.audience_keys() if fitted.segments is not None else {}
    user_ids = np.concatenate([users_to_score(cfg, run_id, split, fitted), [FALLBACK_USER], list(audiences)]).astype(np.int64)
    users = spark.createDataFrame(pd.DataFrame({S.USER_ID: user_ids}))
    partitions = max(1, min(spark.sparkContext.defaultParallelism * 2, len(user_ids) // 500 + 1))

    with_candidates = split == "eval"   # the published split needs only the final lists
    withheld = withheld_variants(cfg, run_id) if split == "full" else set()

    def recommend_partition(batches):
        fitted = pickle.loads(payload.value)
        fitted.variants = {name: rules for name, rules in fitted.variants.items() if name not in withheld}
        for batch in batches:
            user_ids = batch[S.USER_ID].to_numpy(dtype=np.int64)
            for chunk in np.array_split(user_ids, max(1, len(user_ids) // USERS_PER_CHUNK)):
                yield recommend_users(fitted, chunk, with_candidates)

    rows = users.repartition(partitions).mapInPandas(recommend_partition, OUTPUT_SCHEMA)
    rows = rows.withColumn(S.RUN_ID, F.lit(run_id)).withColumn(S.SPLIT, F.lit(split))
    if with_candidates:
        rows = rows.cache()    # two tables from one scoring pass
    is_final = F.col(S.LIST_NAME).startswith(FINAL)
    with spark_tasks(spark, f"scoring {len(user_ids):,} users"):
        counts = {"ranked_lists": _write(cfg, rows.where(is_final), "ranked_lists", run_id, split), "users": int(len(user_ids))}
        if with_candidates:
            counts["candidates"] = _write(cfg, rows.where(~is_final).drop(S.REASON_TEXT, S.SLOT), "candidates", run_id, split)
    rows.unpersist()
    if split == "full":
        with spark_tasks(spark, f"similar movies for {fitted.train.n_items:,} movies"):
            counts["similar_movies"] = _score_similar(cfg, spark, run_id, split, payload, fitted.train.n_items)
    payload.unpersist()
    # Publish keys the segment and genre lists by these names (ids below -1 are not users).
    runs.update_state(cfg, run_id, **{f"score_{split}": counts, f"audiences_{split}": {str(a): k for a, k in audiences.items()}})
    return counts


def withheld_variants(cfg: Config, run_id: str) -> set[str]:
    """Experiment arms the run's evaluation withheld (failed their gates): publish drops their lists, so the
    published split does not compute them. Empty before evaluation has run."""
    gates = runs.load_state(cfg, run_id).get("evaluation", {}).get("gates", {})
    return set(gates.get("withheld", []))


def _score_similar(cfg: Config, spark: SparkSession, run_id: str, split: str, payload, n_items: int) -> int:
    """Every catalog movie's nearest neighbours, by chunks of movies on the cluster."""
    items = spark.createDataFrame(pd.DataFrame({"item_idx": np.arange(n_items, dtype=np.int64)}))
    k = cfg.serving.similar_k

    def neighbours(batches):
        fitted = pickle.loads(payload.value)
        for batch in batches:
            idx = batch["item_idx"].to_numpy()
            for chunk in np.array_split(idx, max(1, len(idx) // 1000)):
                yield similar_movies(fitted, chunk, k)

    partitions = max(1, min(spark.sparkContext.defaultParallelism * 2, n_items // 2000 + 1))
    rows = items.repartition(partitions).mapInPandas(neighbours, SIMILAR_SCHEMA)
    return _write(cfg, rows.withColumn(S.RUN_ID, F.lit(run_id)).withColumn(S.SPLIT, F.lit(split)), "similar_movies",
                  run_id, split)


def _write(cfg: Config, frame: DataFrame, table: str, run_id: str, split: str) -> int:
    path = cfg.table_path("gold", table)
    lake.replace_where(frame, path, {S.RUN_ID: run_id, S.SPLIT: split}, [S.RUN_ID, S.SPLIT])
    return lake.last_written_rows(frame.sparkSession, path)


def read_lists(cfg: Config, spark: SparkSession, run_id: str, split: str, table: str) -> DataFrame:
    return lake.read(spark, cfg.table_path("gold", table)).where(
        (F.col(S.RUN_ID) == run_id) & (F.col(S.SPLIT) == split)
    )


def list_rows(cfg: Config, spark: SparkSession, run_id: str, split: str, table: str, name: str,
              engine: str = "auto") -> pd.DataFrame:
    """(user_id, rank, movie_id) of one list (`list_name` = `name`) of a run's split, one list at a time: every
    list of 50,000 evaluated users together is 37M rows, more than the driver's JVM collects. DuckDB scans the
    table's local Parquet files (no JVM); elsewhere Spark hands the filtered rows over as Arrow. `engine`: auto |
    spark."""
    path = cfg.table_path("gold", table)
    files = local_snapshot_files(spark, path, None) if engine == "auto" else None
    columns = [S.USER_ID, S.RANK, S.MOVIE_ID]
    if files is None:
        frame = read_lists(cfg, spark, run_id, split, table).where(F.col(S.LIST_NAME) == name).select(*columns)
        return frame.toArrow().to_pandas()
    if not files:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in columns})
    con = duckdb.connect()
    try:
        return con.sql(f"""
            SELECT {S.USER_ID}, {S.RANK}, {S.MOVIE_ID} FROM read_parquet(?, hive_partitioning = true,
                hive_types = {{'{S.RUN_ID}': VARCHAR, '{S.SPLIT}': VARCHAR}})
            WHERE {S.RUN_ID} = ? AND {S.SPLIT} = ? AND {S.LIST_NAME} = ?
        """, params=[files, run_id, split, name]).df()
    finally:
        con.close()
