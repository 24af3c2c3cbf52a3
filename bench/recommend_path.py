"""Users per second through the per-user path of scoring: candidates and their features, ranker inference,
reranking (MMR and slots), business rules and reasons, on one core, against the per-user code it replaced.

    .venv/bin/python bench/recommend_path.py --models WORKDIR/runs/RUN/eval/models.pkl [--users 5000]
        [--baseline-users 300] [--chunk 200] [--repeats 3] [--ranker-candidates 0,150,250]

Loads a run's fitted models (what `score` broadcasts), times `recommend_users` over `--users` users in
chunks of `--chunk` (as the score step does, one process, one thread for BLAS), repeated `--repeats`
times (median and spread), then the per-user reference (tests/model/per_user_reference.py) on
`--baseline-users` of the same users: the ratio is measured in the same run. A cProfile pass splits the
time into retrieval (every generator's top-N), candidate features, ranker, rerank + rules + reasons.

`--ranker-candidates` repeats the timing with only each user's best N candidates by rank fusion reaching
the ranker (`models.ranker.max_candidates`); with an eval split's models (test_events.parquet beside them)
each setting's final-list NDCG@10 and recall@10 on the same users is printed beside its speed, with the
95% bootstrap interval, so the quality cost of a speed-up is measured in the same run.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pickle
import pstats
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")       # one Spark task = one core: measure it that way
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from conf import load_config  # noqa: E402
from models.metrics import bootstrap, intervals, point_value, ranking_parts, resample_counts  # noqa: E402
from models.recommend import FINAL, recommend_users  # noqa: E402
from models.training import relevance  # noqa: E402
from tests.model import per_user_reference  # noqa: E402

STAGES = {
    "retrieval": ["score_users", "top_n"],
    "candidate features": ["_item_user_features"],
    "ranker": ["predict", "rank_fusion"],
    "rerank + rules + reasons": ["_final_lists"],
}


def run_chunks(fn, models, users: np.ndarray, chunk: int) -> float:
    start = time.perf_counter()
    for part in np.array_split(users, max(1, len(users) // chunk)):
        fn(models, part)
    return time.perf_counter() - start


def final_quality(models, users: np.ndarray, chunk: int, test_path: Path, k: int = 10) -> dict[str, tuple]:
    """NDCG@k and recall@k (point, 95% interval) of the control's final lists for `users` on the held-out events."""
    lists = pd.concat([recommend_users(models, part, False) for part in np.array_split(users, max(1, len(users) // chunk))])
    final = lists[lists["list_name"] == FINAL]
    recs = np.full((len(users), k), -1, dtype=np.int64)
    top = final[final["rank"] <= k]
    recs[np.searchsorted(users, top["user_id"].to_numpy()), top["rank"].to_numpy() - 1] = models.train.item_index(top["movie_id"].to_numpy())
    relevant = relevance(models.train, pd.read_parquet(test_path), load_config(environ={}))[models.train.user_index(users)]
    parts = {m: p for m, p in ranking_parts(recs, relevant, k, models.train.n_items).items() if m in (f"ndcg@{k}", f"recall@{k}")}
    spans = intervals(parts, bootstrap(parts, resample_counts(len(users), 200, 0)))
    return {m: (point_value(p), spans[m]) for m, p in parts.items()}


def stage_seconds(models, users: np.ndarray, chunk: int) -> dict[str, float]:
    profile = cProfile.Profile()
    profile.enable()
    run_chunks(recommend_users, models, users, chunk)
    profile.disable()
    stats = pstats.Stats(profile).stats
    out = {}
    for stage, names in STAGES.items():
        # Cumulative time of the outermost calls only: a function's recursive or nested calls are inside it.
        out[stage] = sum(v[3] for (_, _, name), v in stats.items() if name in names)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--baseline-users", type=int, default=300)
    parser.add_argument("--chunk", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ranker-candidates", default="", help="comma-separated settings of models.ranker.max_candidates")
    args = parser.parse_args()
    models = pickle.loads(args.models.read_bytes())
    rng = np.random.default_rng(0)
    all_users = models.train.user_ids
    test_path = args.models.parent / "test_events.parquet"
    if test_path.exists():   # eval split: the users evaluation scores, those with a relevant held-out event
        test = pd.read_parquet(test_path)
        all_users = np.intersect1d(test.loc[test["relevant"], "user_id"].unique(), all_users)
    users = np.sort(rng.choice(all_users, min(args.users, len(all_users)), replace=False))
    print(f"models: {models.train.n_users} users x {models.train.n_items} items, generators {list(models.generators)}, "
          f"ranker {'yes' if models.ranker else 'no'}, variants {['control', *models.variants]}")
    run_chunks(recommend_users, models, users[: args.chunk], args.chunk)      # warm-up
    times = [run_chunks(recommend_users, models, users, args.chunk) for _ in range(args.repeats)]
    rates = sorted(len(users) / t for t in times)
    print(f"batch path: {len(users)} users, chunks of {args.chunk}: {statistics.median(rates):,.0f} users/s per core "
          f"(median of {args.repeats}; min {rates[0]:,.0f}, max {rates[-1]:,.0f})")
    base_users = users[: args.baseline_users]
    base = [run_chunks(per_user_reference.recommend_users, models, base_users, args.chunk) for _ in range(args.repeats)]
    base_rates = sorted(len(base_users) / t for t in base)
    batch_rate = statistics.median(rates)
    print(f"per-user reference: {len(base_users)} users: {statistics.median(base_rates):,.0f} users/s per core "
          f"(min {base_rates[0]:,.0f}, max {base_rates[-1]:,.0f}); batch / per-user = {batch_rate / statistics.median(base_rates):.1f}x")
    stages = stage_seconds(models, users, args.chunk)
    total = sum(stages.values())
    print("time by stage (cProfile pass, so slower than above; shares are what matter):")
    for stage, seconds in stages.items():
        print(f"  {stage:<26} {seconds:7.2f} s  {100 * seconds / max(total, 1e-9):5.1f}%  "
              f"{len(users) / max(seconds, 1e-9):>10,.0f} users/s")
    rest = total - stages["retrieval"]
    print(f"  without retrieval: {len(users) / max(rest, 1e-9):,.0f} users/s per core (profiled)")
    settings = [int(x) for x in args.ranker_candidates.split(",") if x.strip()]
    if settings:
        print("\nranker candidates per user (0 = all): speed and, on the eval split, final-list quality on the same users")
    for n in settings:
        models.ranker_candidates = n
        rates = sorted(len(users) / run_chunks(recommend_users, models, users, args.chunk) for _ in range(args.repeats))
        line = f"  {n:>5}: {statistics.median(rates):>7,.0f} users/s per core (min {rates[0]:,.0f}, max {rates[-1]:,.0f})"
        if test_path.exists():
            quality = final_quality(models, users, args.chunk, test_path)
            line += "".join(f"  {m} {v:.4f} [{lo:.4f}, {hi:.4f}]" for m, (v, (lo, hi)) in quality.items())
        print(line)


if __name__ == "__main__":
    main()
