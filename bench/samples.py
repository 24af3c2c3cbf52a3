"""A generator's training sample against more of the data: NDCG@10 with its interval, and fit seconds, in one process.

    .venv/bin/movierec ingest --workdir W --set synthetic.users=100000 --set synthetic.movies=20000 \
        --set synthetic.events_per_user=50          # or the lake a `bench/scale.py --sizes 100000` run left
    .venv/bin/python bench/samples.py --workdir W --vary two_tower.max_train_users=50000,100000 \
        --vary ease.max_items=10000,20000 [--eval-users 10000] [--set KEY=VALUE ...]

Each `--vary models.<generator>.<key>=v1,v2,...` fits that generator once per value (the first is the default's
sample, the last typically "everyone") on the eval split's training events of the lake's latest silver tables
(the pipeline's temporal split) and scores a seeded sample of the evaluated users against their held-out events,
full-catalogue, their training items excluded: the figures of the generator's own list in the pipeline's report.
The bootstrap interval is over those users, paired across a generator's settings (the same resamples), so the
difference's interval is printed too. Peak RSS is the process's, after each fit (it only grows).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from conf import load_config
from jobs.cli import set_overrides
from jobs.spark import get_spark
from jobs.train import read_inputs
from models.data import build_training_set
from models.metrics import (bootstrap, percentile_interval, point_value, ranking_parts, resample_counts,
                            sample_users)
from models.registry import build_generator
from models.split import hold_out
from models.training import relevance

LATEST = {"movies": None, "interactions": None, "users": None}   # silver tables at their latest versions
SCORING_CHUNK = 1000


def parse_vary(text: str) -> tuple[str, str, list[str]]:
    key, values = text.split("=", 1)
    generator, setting = key.split(".", 1)
    return generator, setting, values.split(",")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a workdir `movierec ingest` has filled")
    parser.add_argument("--vary", action="append", required=True, metavar="GENERATOR.KEY=V1,V2")
    parser.add_argument("--eval-users", type=int, default=10_000, help="a seeded sample of the evaluated users (0 = all)")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    cfg = load_config(overrides={**set_overrides(args.set), "workdir": args.workdir})
    events, movies, _ = read_inputs(cfg, get_spark(cfg), LATEST)
    fit_events, test = hold_out(events, cfg.evaluation.protocol, cfg.evaluation.test_fraction, cfg.interactions)
    train = build_training_set(fit_events, movies, cfg.interactions)
    relevant = relevance(train, test, cfg)
    evaluated = np.flatnonzero(relevant.getnnz(axis=1) >= cfg.evaluation.min_relevant_test_events)
    if args.eval_users:
        evaluated = sample_users(evaluated, args.eval_users, cfg.seed)
    counts = resample_counts(len(evaluated), args.bootstrap, cfg.seed)
    k = cfg.evaluation.k
    ndcg = f"ndcg@{k}"
    print(f"{len(events):,} events, {train.n_users:,} users x {train.n_items:,} items in the eval split's training set, "
          f"{len(evaluated):,} evaluated users\n")
    print(f"| generator | setting | fit s | peak RSS GB | {ndcg} [95% interval] | recall@{k} | minus the first setting [95% interval] |")
    print("|---|---|---|---|---|---|---|")
    for text in args.vary:
        generator, setting, values = parse_vary(text)
        first = None
        for value in values:
            overrides = set_overrides([*args.set, f"models.{generator}.{setting}={value}"])
            models_cfg = load_config(overrides={**overrides, "workdir": args.workdir}).models
            start = time.perf_counter()
            model = build_generator(generator, models_cfg, cfg.seed).fit(train)
            fit_seconds = time.perf_counter() - start
            recs = np.concatenate([model.recommend(chunk, k)[0] for chunk in
                                   np.array_split(evaluated, max(1, len(evaluated) // SCORING_CHUNK))])
            parts = ranking_parts(recs, relevant[evaluated], k, train.n_items)
            replicates = bootstrap({ndcg: parts[ndcg]}, counts)[ndcg]
            low, high = percentile_interval(replicates)
            diff = ""
            if first is None:
                first = replicates, point_value(parts[ndcg])
            else:
                d_low, d_high = percentile_interval(replicates - first[0])
                diff = f"{point_value(parts[ndcg]) - first[1]:+.4f} [{d_low:+.4f}, {d_high:+.4f}]"
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
            print(f"| {generator} | {setting}={value} | {fit_seconds:.1f} | {rss:.1f} | {point_value(parts[ndcg]):.4f} "
                  f"[{low:.4f}, {high:.4f}] | {point_value(parts[f'recall@{k}']):.4f} | {diff} |", flush=True)
            del model


if __name__ == "__main__":
    main()
