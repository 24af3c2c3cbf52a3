"""Single generators on MovieLens under leave-one-out, in one process: NDCG@10 / HR@10 and fit seconds side by side.

    .venv/bin/python bench/generators_loo.py [--data ../shared/data/movielens-1m-partial] [--generators sasrec,time_aware,ease]
        [--set sasrec.epochs=30 ...] [--seeds 1] [--hashed-ids]

The protocol of models/split.py (each user's last rating is the test item, every one relevant, the user's other
items excluded, full-catalogue ranking), without Spark, the ranker or the pipeline around it: a quick loop for
choosing a generator's settings. The pipeline's own figures come from `movierec pipeline --set
evaluation.protocol=leave_one_out` (bench/pipeline_real_data.py --protocol leave_one_out).
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from conf import load_config
from jobs.cli import set_overrides
from models.data import build_training_set
from models.metrics import ranking_metrics
from models.registry import build_generator
from models.split import LEAVE_ONE_OUT, hold_out

ROOT = Path(__file__).resolve().parents[1]


def ratings(folder: Path) -> pd.DataFrame:
    if (folder / "ratings.csv").exists():
        frame = pd.read_csv(folder / "ratings.csv").rename(columns={"userId": "user_id", "movieId": "movie_id",
                                                                    "rating": "value", "timestamp": "ts"})
    else:
        frame = pd.read_csv(folder / "ratings.dat.gz", sep="::", engine="python", header=None,
                            names=["user_id", "movie_id", "value", "ts"])
    frame["ts"] = pd.to_datetime(frame["ts"], unit="s", utc=True)
    frame["event_type"] = "rating"
    frame["event_id"] = [f"{i:09d}" for i in range(len(frame))]     # ties in time keep the file's order, as ingest
    return frame


def hashed_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """The event ids ingest gave MovieLens ratings until commit 9ee1141 (a hash): ties in time shuffled."""
    seconds = frame["ts"].astype("int64") // 10**9
    ids = [hashlib.sha1(f"ml:{u}:{m}:{t}".encode()).hexdigest()[:20]
           for u, m, t in zip(frame["user_id"], frame["movie_id"], seconds)]
    return frame.assign(event_id=ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "movielens-1m-partial")
    parser.add_argument("--generators", default="sasrec,time_aware,ease")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="models.<KEY> override")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--every", type=int, default=0, metavar="N",
                        help="sasrec: also print the figures after every N epochs (its learning curve)")
    parser.add_argument("--hashed-ids", action="store_true",
                        help="order ratings of the same second by a hash of each, as ingest did before 9ee1141")
    args = parser.parse_args()
    overrides = set_overrides([f"models.{kv}" for kv in args.set])
    cfg = load_config("local", environ={}, overrides=overrides)
    events = ratings(args.data)
    if args.hashed_ids:
        events = hashed_ids(events)
    train_events, test = hold_out(events, LEAVE_ONE_OUT, 0.2, cfg.interactions)
    train = build_training_set(train_events, events["movie_id"].unique(), cfg.interactions)
    users = train.user_index(test["user_id"].to_numpy())
    items = train.item_index(test["movie_id"].to_numpy())
    relevant = sparse.csr_matrix((np.ones(len(users)), (np.arange(len(users)), items)), shape=(len(users), train.n_items))
    print(f"{args.data.name}: {train.n_users} users, {train.n_items} items, {len(train_events)} training events, "
          f"{len(test)} test users; settings {args.set or 'the defaults'}")
    print(f"{'generator':<12} {'seed':>4} {f'NDCG@{args.k}':>9} {f'HR@{args.k}':>8} {'fit s':>7} {'score ms/user':>14}")
    for name in args.generators.split(","):
        for seed in range(cfg.seed, cfg.seed + args.seeds):
            start = time.perf_counter()
            model = build_generator(name, cfg.models, seed)
            if name == "sasrec" and args.every:
                model._train = train
                for epoch, _ in enumerate(model.epochs(train), start=1):
                    if epoch % args.every == 0 and epoch < cfg.models.sasrec.epochs:
                        report(f"{name}@{epoch}", seed, model, users, relevant, train, args.k, time.perf_counter() - start)
            else:
                model.fit(train)
            report(name, seed, model, users, relevant, train, args.k, time.perf_counter() - start)


def report(name, seed, model, users, relevant, train, k, fit) -> None:
    start = time.perf_counter()
    recs = np.concatenate([model.recommend(chunk, k)[0] for chunk in np.array_split(users, max(1, len(users) // 500))])
    score_ms = (time.perf_counter() - start) * 1000 / len(users)
    metrics = ranking_metrics(recs, relevant, k, train.n_items)
    print(f"{name:<12} {seed:>4} {metrics[f'ndcg@{k}']:>9.4f} {metrics[f'recall@{k}']:>8.4f} "
          f"{fit:>7.1f} {score_ms:>14.2f}", flush=True)


if __name__ == "__main__":
    main()
