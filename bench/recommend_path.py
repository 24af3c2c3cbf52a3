"""Users per second through the per-user path of scoring: candidates and their features, ranker inference,
reranking (MMR and slots), business rules and reasons, on one core, against the per-user code it replaced.

    .venv/bin/python bench/recommend_path.py --models WORKDIR/runs/RUN/full/models.pkl [--users 5000]
        [--baseline-users 300] [--chunk 200] [--repeats 3]

Loads a run's fitted models (what `score` broadcasts), times `recommend_users` over `--users` users in
chunks of `--chunk` (as the score step does, one process, one thread for BLAS), repeated `--repeats`
times (median and spread), then the per-user reference (tests/model/per_user_reference.py) on
`--baseline-users` of the same users: the ratio is measured in the same run. A cProfile pass splits the
time into retrieval (every generator's top-N), candidate features, ranker, rerank + rules + reasons.
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

from models.recommend import recommend_users  # noqa: E402
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
    args = parser.parse_args()
    models = pickle.loads(args.models.read_bytes())
    rng = np.random.default_rng(0)
    all_users = models.train.user_ids
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


if __name__ == "__main__":
    main()
