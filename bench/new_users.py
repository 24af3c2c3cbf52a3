"""How far lists built from a new user's profile alone can go: segment lists by every combination of the users
table's attributes, against the popularity generator, each user scored as if new, in one process.

    .venv/bin/python bench/new_users.py [--data ../shared/data/movielens-1m-partial] [--protocols temporal,leave_one_out]

The evaluation of `movierec pipeline`'s `new_users` section (jobs/evaluate.py `new_user_metrics`) without Spark, the
ranker or the pipeline around it: the protocol's split (models/split.py), the training set, `models/segments.py`'s
lists for each attribute set, and each evaluated user's own training items dropped from every list before NDCG@10
is taken. Printed against the popularity generator's list (`candidates_per_generator` long, taken after each
user's own items are masked, as the report's `vs_popularity`): the fallback (popularity's order at
`final_list_size`), and each attribute set's segment lists at the shrinkage `fit_segments` chooses on held-out
users, then at every shrinkage of its grid, the best of which was picked by looking at the test items (a ceiling,
not a setting). Intervals are 95% paired bootstraps of the
difference with popularity over the evaluated users.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.append(str(Path(__file__).resolve().parent))   # its sibling modules; the project's packages stay first
from generators_loo import ratings  # noqa: E402

from conf import load_config  # noqa: E402
from data_contracts import columns as C  # noqa: E402
from jobs.evaluate import without_own  # noqa: E402
from jobs.sources.movielens import user_documents  # noqa: E402
from models.data import build_training_set  # noqa: E402
from models.metrics import bootstrap, percentile_interval, ranking_parts, resample_counts  # noqa: E402
from models.popularity import Popularity  # noqa: E402
from models.segments import SHRINKAGE_GRID, fit_segments, shrinkage_unit  # noqa: E402
from models.split import hold_out  # noqa: E402
from models.training import relevance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ATTRIBUTES = ("gender", "age", "occupation")


def top(scores: np.ndarray, n: int) -> np.ndarray:
    """Each row's best `n` item indices, best first (ties: lower index first)."""
    return np.argsort(-scores, axis=-1, kind="stable")[..., :n]


def evaluate(protocol: str, events: pd.DataFrame, users: pd.DataFrame, cfg, counts_seed: int) -> dict[str, float]:
    """Print the protocol's table; return each row's NDCG@10 over the popularity generator's."""
    cfg = cfg.model_copy(update={"evaluation": cfg.evaluation.model_copy(update={"protocol": protocol})})
    train, test = hold_out(events, protocol, cfg.evaluation.test_fraction, cfg.interactions)
    data = build_training_set(train, np.unique(events[C.MOVIE_ID]), cfg.interactions)
    relevant = relevance(data, test, cfg)
    user_idx = np.flatnonzero(relevant.getnnz(axis=1) >= cfg.evaluation.min_relevant_test_events)
    relevant = relevant[user_idx]
    seen = data.seen[user_idx]
    k, n_final, n_candidates = cfg.evaluation.k, cfg.models.final_list_size, cfg.models.candidates_per_generator
    counts = resample_counts(len(user_idx), cfg.evaluation.bootstrap_samples, counts_seed)

    def ndcg_parts(recs: np.ndarray):
        return ranking_parts(without_own(recs, seen), relevant, k, data.n_items)[f"ndcg@{k}"]

    popularity = Popularity().fit(data).item_scores
    # The generator's own list, as the pipeline scores it: each user's seen items masked before its top N is taken.
    own = np.where(seen.toarray() > 0, -np.inf, popularity[None, :])
    base = ranking_parts(top(own, n_candidates), relevant, k, data.n_items)[f"ndcg@{k}"]
    base_value = base.num.sum() / base.den.sum()
    base_replicates = bootstrap({"ndcg": base}, counts)["ndcg"]

    ratios: dict[str, float] = {}

    def line(name: str, part, extra: str = "") -> None:
        value = part.num.sum() / part.den.sum()
        ratios[name.strip()] = value / base_value
        low, high = percentile_interval(bootstrap({"ndcg": part}, counts)["ndcg"] - base_replicates)
        print(f"{name:<38} {value:>8.4f} {value / base_value:>8.3f}x   [{low:+.4f}, {high:+.4f}]  {extra}")

    print(f"\n## {protocol}: {len(user_idx):,} users evaluated, {data.n_items:,} movies")
    print(f"{'list':<38} {'NDCG@10':>8} {'vs pop':>9}   minus popularity [95%]")
    print(f"{'popularity generator (' + str(n_candidates) + ' long)':<38} {base_value:>8.4f} {1.0:>8.3f}x")
    fallback = top(popularity, n_final)

    def segment_lists(scores: np.ndarray, code: np.ndarray):
        """Each evaluated user's segment list (`code`: their segment; the fallback without one), scored."""
        return ndcg_parts(np.where((code >= 0)[:, None], top(scores, n_final)[np.maximum(code, 0)], fallback[None, :]))

    line(f"fallback ({n_final} long)", ndcg_parts(np.tile(fallback, (len(user_idx), 1))))
    for size in range(1, len(ATTRIBUTES) + 1):
        for attributes in itertools.combinations(ATTRIBUTES, size):
            config = cfg.models.segments.model_copy(update={"attributes": list(attributes), "shrinkage": None})
            segments = fit_segments(data, users, config)
            code = segments.user_segment[user_idx]

            label = "+".join(attributes)
            line(f"{label} ({len(segments.names)} segments)", segment_lists(segments.scores, code),
                 f"shrinkage chosen {segments.shrinkage:.3g}")
            event_segment = segments.user_segment[data.events["user_idx"].to_numpy()]
            unit = shrinkage_unit(data.events["weight"].to_numpy(dtype=np.float64)[event_segment >= 0], len(segments.names))
            best = None
            for factor in SHRINKAGE_GRID[:-1]:   # the last is overall popularity itself
                part = segment_lists(fit_segments(data, users, config.model_copy(update={"shrinkage": factor * unit})).scores, code)
                value = part.num.sum() / part.den.sum()
                if best is None or value > best[0]:
                    best = (value, factor, part)
            line(f"  {label}: best shrinkage on test (x{best[1]:g})", best[2])
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "movielens-1m-partial")
    parser.add_argument("--protocols", default="temporal,leave_one_out")
    args = parser.parse_args()
    cfg = load_config()
    users = pd.DataFrame(user_documents(args.data))
    if users.empty:
        raise SystemExit(f"{args.data} has no users table (users.dat): segment lists need one")
    events = ratings(args.data)
    for protocol in args.protocols.split(","):
        evaluate(protocol, events, users, cfg, cfg.seed)


if __name__ == "__main__":
    main()
