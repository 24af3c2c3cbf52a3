"""The ranker's settings against quality and cost: NDCG@10 beside its best input, fit seconds and scoring speed, in one process.

    .venv/bin/movierec ingest --workdir /tmp/rp          # or: --source movielens --data-dir ../shared/data/...
    .venv/bin/python bench/ranker_settings.py --workdir /tmp/rp [--pairs 10,40] [--trees 300:0.05,100:0.15]
        [--ranker-users 3000,10000] [--eval-users 10000] [--seeds 42,1,2] [--set KEY=VALUE ...]

`--trees` lists `n_estimators:learning_rate` pairs: inference costs candidate rows x trees, and at 20,000 movies
the ranker was half of the per-user scoring path. Each setting's scoring speed is the evaluated users through
the whole path (`recommend_users`: retrieval, features, ranker, rerank, reasons; one core) per second.
`--ranker-users` lists sizes of the ranker's training sample (`models.ranker.max_users`): the largest is labelled,
each smaller one is a seeded subset of it. `--eval-users` scores a seeded sample of the evaluated users.

The eval split of `movierec pipeline` (models/training.py: stage 1, the ranker's labelled candidates, stage 2,
every variant's reranked lists), on the lake's latest silver tables, with two differences that keep it quick:
XGBoost's own `XGBRanker` instead of `SparkXGBRanker` (same parameters), and no feature-store features. The
generators are fitted once; each setting fits only the ranker. `models.ranker.pairs_per_candidate`,
`n_estimators` and `learning_rate` were chosen with it (README, Models).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import pandas as pd
import torch
import xgboost as xgb
from threadpoolctl import threadpool_limits

from conf import load_config
from jobs.cli import set_overrides
from jobs.evaluate import lists_to_array
from jobs.report_text import best_single
from jobs.spark import get_spark
from jobs.train import read_inputs
from models.candidate_features import feature_names
from models.data import build_training_set
from models.metrics import ranking_metrics, sample_users
from models.ranker import Ranker
from models.recommend import recommend_users
from models.split import held_out_relevant, hold_out
from models.training import assemble, fit_generators, ranker_rows, relevance, stage_one

LATEST = {"movies": None, "interactions": None, "users": None}   # silver tables at their latest versions


def one_core_scoring(models, user_ids: np.ndarray) -> tuple[float, pd.DataFrame]:
    """(users per second, lists) of the scoring path on one core, in chunks of 200 users as the score step runs it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            start = time.perf_counter()
            lists = pd.concat([recommend_users(models, chunk) for chunk in np.array_split(user_ids, max(1, len(user_ids) // 200))])
            return len(user_ids) / (time.perf_counter() - start), lists
    finally:
        torch.set_num_threads(threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a workdir `movierec ingest` has filled")
    parser.add_argument("--pairs", default="40")
    parser.add_argument("--trees", default="", help="n_estimators:learning_rate,... (default: the config's)")
    parser.add_argument("--ranker-users", default="", help="sizes of the ranker's user sample (default: the config's)")
    parser.add_argument("--eval-users", type=int, default=0, help="evaluate a seeded sample of this many users (0 = all)")
    parser.add_argument("--seeds", default="42")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    overrides = set_overrides(args.set)
    sizes = sorted(int(n) for n in args.ranker_users.split(",")) if args.ranker_users else []
    if sizes:
        overrides.setdefault("models", {}).setdefault("ranker", {})["max_users"] = sizes[-1]
    cfg = load_config(overrides={**overrides, "workdir": args.workdir})
    events, movies, users = read_inputs(cfg, get_spark(cfg), LATEST)

    start = time.perf_counter()
    fit_events, test = hold_out(events, cfg.evaluation.protocol, cfg.evaluation.test_fraction, cfg.interactions)
    test = test.assign(relevant=held_out_relevant(test, cfg.evaluation.protocol, cfg.interactions))
    stage1, label_relevant, als, _, ranker_users = stage_one(fit_events, movies, users, cfg)
    rows = pd.concat([ranker_rows(stage1, chunk, label_relevant)        # in chunks, as the pipeline's Spark tasks
                      for chunk in np.array_split(ranker_users, max(1, len(ranker_users) // 500))], ignore_index=True)
    train = build_training_set(fit_events, movies, cfg.interactions)
    generators, reference, _ = fit_generators(train, cfg, als, fitted_before=stage1.generators)
    fitted = assemble(train, generators, reference, None, cfg, users)
    relevant = relevance(fitted.train, test, cfg)
    evaluated = np.flatnonzero(relevant.getnnz(axis=1) >= cfg.evaluation.min_relevant_test_events)
    if args.eval_users:
        evaluated = sample_users(evaluated, args.eval_users, cfg.seed)
    user_ids = fitted.train.user_ids[evaluated]
    print(f"{len(events):,} events, {len(user_ids):,} evaluated users, {len(rows):,} labelled candidate rows; "
          f"generators fitted in {time.perf_counter() - start:.0f} s\n")

    k, ndcg = cfg.evaluation.k, f"ndcg@{cfg.evaluation.k}"
    rc = cfg.models.ranker
    features = feature_names(list(stage1.generators))
    trees = [(int(n), float(lr)) for n, lr in (t.split(":") for t in args.trees.split(","))] if args.trees else [
        (rc.n_estimators, rc.learning_rate)]
    print(f"| ranker users | pairs | trees | learning rate | seed | fit s | scoring users/s | best generator | ranker {ndcg} | final {ndcg} "
          f"| final / best | other variants |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    labelled = np.random.default_rng(cfg.seed).permutation(np.unique(rows["qid"].to_numpy()))
    samples = {n: rows[rows["qid"].isin(labelled[:n])] for n in sizes} or {rc.max_users: rows}
    settings = [(u, p, n, lr, s) for u in samples for p in (int(p) for p in args.pairs.split(",")) for n, lr in trees
                for s in (int(s) for s in args.seeds.split(","))]
    for users_n, pairs, n_trees, rate, seed in settings:
        train_rows = samples[users_n]
        fit_start = time.perf_counter()
        model = xgb.XGBRanker(
            objective="rank:ndcg", n_estimators=n_trees, max_depth=rc.max_depth,
            learning_rate=rate, min_child_weight=rc.min_child_weight, subsample=rc.subsample,
            tree_method="hist", random_state=seed, lambdarank_pair_method="topk",
            lambdarank_num_pair_per_sample=pairs)
        model.fit(train_rows[features].to_numpy(np.float32), train_rows["label"].to_numpy(), qid=train_rows["qid"].to_numpy())
        fit_seconds = time.perf_counter() - fit_start
        scored = dataclasses.replace(fitted, ranker=Ranker(model.get_booster(), features))
        per_second, lists = one_core_scoring(scored, user_ids)
        metrics = {name: {ndcg: ranking_metrics(lists_to_array(frame, user_ids, fitted.train.item_index, k),
                                                relevant[evaluated], k, fitted.train.n_items)[ndcg]}
                   for name, frame in lists.groupby("list_name", sort=False)}
        best = best_single(metrics, ndcg)
        others = ", ".join(f"{n} {m[ndcg]:.4f}" for n, m in metrics.items() if n.startswith("final@"))
        print(f"| {train_rows['qid'].nunique():,} | {pairs} | {n_trees} | {rate} | {seed} | {fit_seconds:.1f} | {per_second:,.0f} | {best} {metrics[best][ndcg]:.4f} | {metrics['ranker'][ndcg]:.4f} "
              f"| {metrics['final'][ndcg]:.4f} | {metrics['final'][ndcg] / metrics[best][ndcg]:.3f}x | {others} |",
              flush=True)


if __name__ == "__main__":
    main()
