"""Candidates and their ranking features for a batch of users.

Every generator's top-N (seen items excluded) are merged and deduplicated; each candidate row keeps
every generator's score (NaN when it cannot score the pair) and rank (NaN when not retrieved),
plus item, user and user x item features. Pure numpy/pandas: the same code builds the ranker's
training rows and scores the lists that get published.

Features named `store_*` come from the feature store, joined point-in-time at each user's own time
(the start of the ranker's label window in training, the end of the data when scoring); the rest
are computed from the training set the generators saw, so neither can see past a user's cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from models.base import CandidateGenerator, mask_seen, top_n
from models.data import DAY, TrainingSet, epoch_seconds, last_items, positive_sequences
from models.metrics import percentile_ranks

BUCKET_DAYS = 30.0
POP_WINDOW_BUCKETS = 3          # "popular when the user was last active" = the 90 days before it
SIMILAR_HISTORY = 10            # last items compared with each candidate
SIMILAR_DECAY = 0.8

ITEM_USER_FEATURES = [
    "n_retrieved", "item_log_count", "item_age_days", "release_vs_user_last_days", "first_seen_vs_user_last_days",
    "pop_at_user_time", "pop_share_at_user_time", "vote_average", "vote_count", "runtime", "year",
    "user_log_events", "user_span_days", "user_idle_days", "genre_affinity", "max_sim_recent", "recency_of_similar",
]


STORE_PREFIX = "store_"
STORE_AFFINITY = "store_genre_affinity"
_STORE_NOT_NUMERIC = ("user_id", "event_timestamp", "genre_affinity", "first_event_at", "last_event_at")


def feature_names(generators: list[str], store: list[str] | None = None) -> list[str]:
    return [f"{g}_{kind}" for g in generators for kind in ("score", "rank")] + ITEM_USER_FEATURES + list(store or [])


@dataclass
class StoreFeatures:
    """Feature-store values of each training user at that user's time: `values` (n_users, len(names))
    and the genre affinity `affinity` (n_users, catalog genres). NaN where the store had no row."""

    names: list[str]
    values: np.ndarray
    affinity: np.ndarray

    @property
    def pair_names(self) -> list[str]:
        return [*self.names, STORE_AFFINITY] if self.names else []


def store_features(frame: pd.DataFrame | None, train: TrainingSet, genres: list[str]) -> StoreFeatures:
    """Align a point-in-time feature frame (user_id, event_timestamp, the user view's columns, with
    `genre_affinity` in `genres` order) to the training set's users and catalog genres."""
    catalog_genres = train.catalog.genre_matrix()[1]
    if frame is None or frame.empty:
        return StoreFeatures([], np.zeros((train.n_users, 0), np.float32), np.zeros((train.n_users, len(catalog_genres)), np.float32))
    idx = train.user_index(frame["user_id"].to_numpy())
    frame, idx = frame[idx >= 0], idx[idx >= 0]
    at = epoch_seconds(frame["event_timestamp"])
    columns = {f"{STORE_PREFIX}{c}": pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
               for c in frame.columns if c not in _STORE_NOT_NUMERIC}
    columns[f"{STORE_PREFIX}days_since_first"] = (at - frame["first_event_at"].to_numpy(dtype=np.float64)) / DAY
    columns[f"{STORE_PREFIX}days_since_last"] = (at - frame["last_event_at"].to_numpy(dtype=np.float64)) / DAY
    names = sorted(columns)
    values = np.full((train.n_users, len(names)), np.nan, dtype=np.float32)
    values[idx] = np.column_stack([columns[n] for n in names])
    affinity = np.full((train.n_users, len(catalog_genres)), np.nan, dtype=np.float32)
    position = {g: i for i, g in enumerate(genres)}
    for row, vector in zip(idx, frame["genre_affinity"]):
        if vector is None or len(vector) != len(genres):
            continue
        affinity[row] = [vector[position[g]] if g in position else 0.0 for g in catalog_genres]
    return StoreFeatures(names, values, affinity)


@dataclass
class FeatureContext:
    """Per-fit statistics the features read; built once from the training set."""

    item_count: np.ndarray
    item_popularity: np.ndarray  # percentile of item_count in [0, 1], 1 = most watched
    item_first_ts: np.ndarray
    timeline: np.ndarray        # (buckets + 1, n_items) cumulative positive events per 30-day bucket
    t0: float
    user_first_ts: np.ndarray
    user_last_ts: np.ndarray
    user_events: np.ndarray
    user_genres: np.ndarray     # (n_users, n_genres) share of the user's positives per genre
    item_genres: sparse.csr_matrix
    genre_names: list[str]
    item_unit: np.ndarray       # (n_items, d) unit vectors for item-item similarity
    seq_items: np.ndarray
    seq_starts: np.ndarray
    store: StoreFeatures

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.item_unit[a] @ self.item_unit[b].T


def item_embedding(generators: dict[str, CandidateGenerator], train: TrainingSet) -> np.ndarray:
    """Unit vectors for similarity: the two-tower's (they cover cold items), else ALS's, else genres."""
    if "two_tower" in generators:
        vectors = generators["two_tower"].item_vectors
    elif "als" in generators:
        vectors = generators["als"].item_factors
    else:
        vectors = train.catalog.genre_matrix()[0].toarray()
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape[1] == 0:
        vectors = np.zeros((train.n_items, 1), dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def build_context(train: TrainingSet, generators: dict[str, CandidateGenerator],
                  store: StoreFeatures | None = None) -> FeatureContext:
    ev = train.events
    pos = ev[ev["weight"] > 0]
    n_items = train.n_items
    item_count = np.bincount(pos["item_idx"], minlength=n_items).astype(np.float32)
    first = pos.groupby("item_idx")["ts"].min()
    item_first_ts = np.full(n_items, np.nan)
    item_first_ts[first.index.to_numpy()] = first.to_numpy()
    t0 = float(ev["ts"].min()) if len(ev) else 0.0
    buckets = int((train.as_of - t0) // (BUCKET_DAYS * DAY)) + 1
    b = ((pos["ts"].to_numpy() - t0) // (BUCKET_DAYS * DAY)).astype(np.int64)
    per_bucket = sparse.csr_matrix((np.ones(len(b), dtype=np.float32), (b, pos["item_idx"].to_numpy())),
                                   shape=(buckets, n_items)).toarray()
    timeline = np.vstack([np.zeros((1, n_items), dtype=np.float32), np.cumsum(per_bucket, axis=0, dtype=np.float32)])
    by_user = ev.groupby("user_idx")["ts"]
    user_first_ts = by_user.min().reindex(range(train.n_users)).to_numpy()
    user_last_ts = by_user.max().reindex(range(train.n_users)).to_numpy()
    user_events = by_user.size().reindex(range(train.n_users), fill_value=0).to_numpy().astype(np.float32)
    genres, names = train.catalog.genre_matrix()
    item_genres = sparse.diags(1.0 / np.maximum(np.asarray(genres.sum(axis=1)).ravel(), 1)).astype(np.float32) @ genres
    item_genres = item_genres.tocsr().sorted_indices()  # reasons break ties between genres in column order
    positives = (train.weights > 0).astype(np.float32)
    user_genres = np.asarray((positives @ item_genres).todense())
    user_genres = user_genres / np.maximum(user_genres.sum(axis=1, keepdims=True), 1e-9)
    seq_items, seq_starts = positive_sequences(train)
    return FeatureContext(item_count, percentile_ranks(item_count), item_first_ts, timeline, t0, user_first_ts, user_last_ts, user_events,
                          user_genres.astype(np.float32), item_genres, names, item_embedding(generators, train),
                          seq_items, seq_starts, store or store_features(None, train, []))


def recent_matrix(ctx: FeatureContext, user_idx: np.ndarray, n: int) -> np.ndarray:
    """(len(user_idx), n) each user's last `n` positive items, most recent first, -1 padded."""
    return last_items(ctx.seq_items, ctx.seq_starts, user_idx, n)


@dataclass
class Candidates:
    """Generator lists and merged candidate rows for one batch of users."""

    lists: dict[str, tuple[np.ndarray, np.ndarray]]   # name -> (items, scores), (n_users, N)
    rows: pd.DataFrame                                 # row (position in the batch), item_idx, features


def candidates(generators: dict[str, CandidateGenerator], ctx: FeatureContext, train: TrainingSet,
               user_idx: np.ndarray, n: int, ranked: list[str], extra: dict[str, CandidateGenerator] | None = None) -> Candidates:
    """Top-`n` of every generator for `user_idx` and the features of the union of `ranked` generators' lists.

    `extra` generators (the reference baseline) only contribute their lists, not candidates.
    """
    n_batch, n_items = len(user_idx), train.n_items
    lists, dense = {}, {}
    for name, generator in {**generators, **(extra or {})}.items():
        scores = mask_seen(generator.score_users(user_idx).astype(np.float32, copy=False), train, user_idx)
        lists[name] = top_n(scores, n)
        if name in ranked:
            dense[name] = scores
    batch_rows = np.arange(n_batch, dtype=np.int64)[:, None] * n_items
    codes = {g: np.where(lists[g][0] >= 0, batch_rows + lists[g][0], -1).ravel() for g in ranked}  # row * n_items + item
    union = np.unique(np.concatenate([np.zeros(0, np.int64), *(c[c >= 0] for c in codes.values())]))
    row, item = union // n_items, union % n_items
    features = {"row": row, "item_idx": item}
    n_retrieved = np.zeros(len(row), dtype=np.float32)
    for g in ranked:
        score = dense[g][row, item]
        features[f"{g}_score"] = np.where(np.isfinite(score), score, np.nan)
        rank = _ranks_in(codes[g], lists[g][0].shape[1], union)
        features[f"{g}_rank"] = np.where(rank > 0, rank, np.nan)
        n_retrieved += rank > 0
    features["n_retrieved"] = n_retrieved
    features.update(_item_user_features(ctx, train, user_idx[row], item))
    return Candidates(lists, pd.DataFrame(features))


def _ranks_in(codes: np.ndarray, width: int, wanted: np.ndarray) -> np.ndarray:
    """1-based rank of each of `wanted` in one generator's lists (`codes`: its (users, width) lists flattened as
    row * n_items + item, -1 padded), 0 where it did not retrieve it: a lookup among its sorted codes, where a
    users x items table of ranks costs a dense pass per generator."""
    if len(codes) == 0:
        return np.zeros(len(wanted), dtype=np.float32)
    order = np.argsort(codes, kind="stable")
    at = order[np.minimum(np.searchsorted(codes, wanted, sorter=order), len(order) - 1)]
    return np.where(codes[at] == wanted, at % width + 1, 0).astype(np.float32)


def _item_user_features(ctx: FeatureContext, train: TrainingSet, users: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
    cat = train.catalog
    known = users >= 0
    safe = np.maximum(users, 0)
    last = np.where(known, ctx.user_last_ts[safe], train.as_of)
    first = np.where(known, ctx.user_first_ts[safe], train.as_of)
    bucket = np.clip(((last - ctx.t0) // (BUCKET_DAYS * DAY)).astype(np.int64) + 1, 0, ctx.timeline.shape[0] - 1)
    lo = np.maximum(bucket - POP_WINDOW_BUCKETS, 0)
    pop_window = ctx.timeline[bucket, items] - ctx.timeline[lo, items]
    # Each bucket's total once, then looked up: indexing whole timeline rows per candidate row is (rows x items).
    totals = ctx.timeline.sum(axis=1)
    window_total = totals[bucket] - totals[lo]
    affinity = np.asarray(ctx.item_genres[items].multiply(ctx.user_genres[safe]).sum(axis=1)).ravel()
    max_sim, recency = _similar_history(ctx, users, items)
    store = {}
    if ctx.store.names:
        values = np.where(known[:, None], ctx.store.values[safe], np.nan)
        store = {name: values[:, i] for i, name in enumerate(ctx.store.names)}
        store[STORE_AFFINITY] = np.where(
            known, np.asarray(ctx.item_genres[items].multiply(np.nan_to_num(ctx.store.affinity[safe])).sum(axis=1)).ravel(), np.nan)
        store[STORE_AFFINITY] = np.where(np.isnan(ctx.store.affinity[safe]).any(axis=1), np.nan, store[STORE_AFFINITY])
    return store | {
        "item_log_count": np.log1p(ctx.item_count[items]),
        "item_age_days": (train.as_of - cat.release_ts[items]) / DAY,
        "release_vs_user_last_days": (cat.release_ts[items] - last) / DAY,
        "first_seen_vs_user_last_days": (ctx.item_first_ts[items] - last) / DAY,
        "pop_at_user_time": pop_window,
        "pop_share_at_user_time": pop_window / np.maximum(window_total, 1.0),
        "vote_average": cat.vote_average[items],
        "vote_count": cat.vote_count[items],
        "runtime": cat.runtime[items],
        "year": cat.years[items],
        "user_log_events": np.log1p(np.where(known, ctx.user_events[safe], 0.0)),
        "user_span_days": (last - first) / DAY,
        "user_idle_days": (train.as_of - last) / DAY,
        "genre_affinity": np.where(known, affinity, np.nan),
        "max_sim_recent": max_sim,
        "recency_of_similar": recency,
    }


SIMILARITY_ROWS = 8192          # candidate rows per similarity block: (rows, d) item vectors and (rows, SIMILAR_HISTORY) sims


def _similar_history(ctx: FeatureContext, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max_sim_recent, recency_of_similar) of each candidate row: its item's highest similarity to the user's
    last SIMILAR_HISTORY positives, unweighted and decayed by how long ago each was watched. NaN for unknown
    users, 0 for users with no positive history.

    Each user's history is looked up once and compared with all of that user's candidates in one matrix product
    (a block of users, their candidates padded to the longest): gathering the history's vectors again for every
    candidate row moved (rows x SIMILAR_HISTORY x d) floats."""
    batch, row = np.unique(users, return_inverse=True)
    history = recent_matrix(ctx, batch, SIMILAR_HISTORY)
    has = (history >= 0).any(axis=1)
    order = np.argsort(row, kind="stable")
    counts = np.bincount(row, minlength=len(batch))
    starts = np.concatenate([[0], np.cumsum(counts)])
    position = np.empty(len(row), dtype=np.int64)
    position[order] = np.arange(len(row)) - starts[row[order]]
    sims = np.empty((len(items), SIMILAR_HISTORY), dtype=np.float32)
    per_block = max(1, SIMILARITY_ROWS // max(int(counts.max(initial=0)), 1))
    for lo in range(0, len(batch), per_block):
        hi = min(lo + per_block, len(batch))
        picked = order[starts[lo]:starts[hi]]
        r, at = row[picked] - lo, position[picked]
        grid = np.zeros((hi - lo, int(counts[lo:hi].max()), ctx.item_unit.shape[1]), dtype=np.float32)
        grid[r, at] = ctx.item_unit[items[picked]]
        sims[picked] = np.matmul(grid, ctx.item_unit[np.maximum(history[lo:hi], 0)].transpose(0, 2, 1))[r, at]
    watched = history[row] >= 0
    sims = np.where(watched, sims, -np.inf)
    decay = (SIMILAR_DECAY ** np.arange(SIMILAR_HISTORY)).astype(np.float32)
    max_sim = np.where(has[row], sims.max(axis=1, initial=-np.inf), 0.0).astype(np.float32)
    recency = np.where(has[row], (sims * decay).max(axis=1, initial=-np.inf), 0.0).astype(np.float32)
    known = users >= 0
    return np.where(known, max_sim, np.nan), np.where(known, recency, np.nan)
