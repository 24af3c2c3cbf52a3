"""The training view every generator fits on: a user x item confidence matrix plus the raw events."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from conf.settings import InteractionsConfig
from data_contracts import columns as C



DAY = 86400.0                   # seconds
DEFAULT_RUNTIME_MINUTES = 100.0
MIN_WATCH_SHARE = 0.1
CAST_IN_TEXT = 5                # top-billed cast members in a movie's text
EPOCH = pd.Timestamp(0, tz="UTC")


def epoch_seconds(values) -> np.ndarray:
    """Seconds since the epoch (float64; NaN where missing) of datetimes or ISO strings in any resolution. Not
    `astype("int64") / 1e9`: pandas 2 keeps the resolution it was given, and Arrow and DuckDB give
    microseconds, which that reads as nanoseconds (every time 1000x too early)."""
    stamps = pd.to_datetime(pd.Series(values).reset_index(drop=True), utc=True, errors="coerce")
    return ((stamps - EPOCH) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class Catalog:
    """Movie metadata aligned with TrainingSet.item_ids (NaN / empty where unknown)."""

    titles: np.ndarray          # object
    years: np.ndarray           # float
    genres: np.ndarray          # object: tuple of genre names
    text: np.ndarray            # object: the document content models read
    adult: np.ndarray           # bool
    release_ts: np.ndarray      # float epoch seconds (release date, else 1 January of the year)
    vote_average: np.ndarray    # float
    vote_count: np.ndarray      # float
    runtime: np.ndarray         # float

    def genre_matrix(self) -> tuple[sparse.csr_matrix, list[str]]:
        """(n_items, n_genres) 0/1 matrix and the genre names of its columns."""
        names = sorted({g for gs in self.genres for g in gs})
        col = {g: j for j, g in enumerate(names)}
        rows = [i for i, gs in enumerate(self.genres) for _ in gs]
        cols = [col[g] for gs in self.genres for g in gs]
        matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(self.genres), len(names)))
        return matrix, names


def _names(value) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ()
    return tuple(str(v) for v in value if v)


def _tokens(names) -> str:
    """Multi-word names become single tokens, so "Tom Hanks" does not match every "Tom"."""
    return " ".join(n.replace(" ", "_").lower() for n in names)


def build_catalog(movies: pd.DataFrame, item_ids: np.ndarray) -> Catalog:
    """Align `movies` (movie_id plus any of the silver movie columns) with `item_ids`."""
    frame = movies.drop_duplicates(C.MOVIE_ID).set_index(C.MOVIE_ID).reindex(item_ids)

    def column(name, default):
        return frame[name] if name in frame else pd.Series(default, index=frame.index, dtype=object)

    titles = column("title", None).fillna("an unknown title").astype(str).to_numpy(dtype=object)
    years = pd.to_numeric(column("year", np.nan), errors="coerce").to_numpy(dtype=np.float64)
    genres = np.empty(len(frame), dtype=object)
    genres[:] = [_names(g) for g in column("genres", None)]
    keywords = [_names(k) for k in column("keywords", None)]
    cast = [_names(c) for c in column("cast", None)]
    director = column("director", None).fillna("").astype(str).tolist()
    overview = column("overview", None).fillna("").astype(str).tolist()
    text = np.empty(len(frame), dtype=object)
    # Genres go in twice: for movies with no TMDB match they and the title are all the text there is.
    text[:] = [
        " ".join([titles[i], overview[i], _tokens(genres[i]), _tokens(genres[i]), _tokens(keywords[i]),
                  _tokens(cast[i][:CAST_IN_TEXT]), _tokens([director[i]] if director[i] else [])])
        for i in range(len(frame))
    ]
    release = pd.to_datetime(column("release_date", None), errors="coerce", utc=True)
    from_year = pd.to_datetime(pd.Series(years).map(lambda y: f"{int(y)}-01-01" if np.isfinite(y) and y > 1800 else None),
                               errors="coerce", utc=True)
    release = release.reset_index(drop=True).fillna(from_year)
    release_ts = epoch_seconds(release)
    return Catalog(
        titles=titles, years=years, genres=genres, text=text,
        adult=np.array([v is True or v == 1 for v in column("adult", False)], dtype=bool),
        release_ts=release_ts,
        vote_average=pd.to_numeric(column("vote_average", np.nan), errors="coerce").to_numpy(dtype=np.float64),
        vote_count=pd.to_numeric(column("vote_count", np.nan), errors="coerce").to_numpy(dtype=np.float64),
        runtime=pd.to_numeric(column("runtime", np.nan), errors="coerce").to_numpy(dtype=np.float64),
    )


@dataclass(frozen=True)
class TrainingSet:
    """Interactions indexed densely.

    user_ids: (n_users,) external user ids, row order of the matrices.
    item_ids: (n_items,) external movie ids of the whole catalog, column order.
    weights:  (n_users, n_items) CSR float32, summed confidence of positive-weight events.
    seen:     (n_users, n_items) CSR int8, 1 where the user had any event (incl. skip/dismiss).
    events:   one row per event with user_idx, item_idx, weight, ts (epoch seconds), event_type,
              sorted by (user_idx, ts).
    as_of:    epoch seconds of the latest event: "now" for time-decayed models.
    catalog:  movie metadata per item column.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    weights: sparse.csr_matrix
    seen: sparse.csr_matrix
    events: pd.DataFrame
    as_of: float
    catalog: Catalog

    def __getstate__(self) -> dict:
        # A pickled training set is what scoring needs (score broadcasts the fitted models to every task):
        # the matrices and the catalog, not the event log they were built from (50M rows at a million users).
        return {**self.__dict__, "events": self.events.iloc[:0]}

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_index(self, ids: np.ndarray) -> np.ndarray:
        """Row of each external user id; -1 for users with no training events."""
        return _lookup(self.user_ids, np.asarray(ids, dtype=np.int64))

    def item_index(self, ids: np.ndarray) -> np.ndarray:
        """Column of each external movie id; -1 for movies outside the catalog."""
        return _lookup(self.item_ids, np.asarray(ids, dtype=np.int64))


def _lookup(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    if len(sorted_ids) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1)


def per_type(types: pd.Series, values: dict[str, float], default: float) -> np.ndarray:
    """`values[type]` of each event (`default` for other types), looked up once per distinct type: event
    types arrive as a category, and mapping 50M strings one by one is what this avoids."""
    categorical = pd.Categorical(types)
    table = np.array([values.get(c, default) for c in categorical.categories] + [default], dtype=np.float64)
    return table[categorical.codes]     # code -1 (missing) takes the last entry, the default


def event_weights(events: pd.DataFrame, cfg: InteractionsConfig, runtime_minutes: np.ndarray | None = None) -> np.ndarray:
    """Confidence of each event: per-type weight; ratings scale with value / 5; watches with the share
    of the film watched (watch_seconds over the runtime, or over DEFAULT_RUNTIME_MINUTES when unknown),
    floored at MIN_WATCH_SHARE so a logged watch never counts for nothing."""
    base = per_type(events[C.EVENT_TYPE], cfg.weights, 0.0)
    is_rating = (events[C.EVENT_TYPE] == "rating").to_numpy()
    rating = pd.to_numeric(events[C.VALUE], errors="coerce").fillna(0.0).to_numpy(dtype=np.float64) / 5.0 * cfg.rating_weight
    weight = np.where(is_rating, rating, base)
    if C.WATCH_SECONDS in events:
        seconds = pd.to_numeric(events[C.WATCH_SECONDS], errors="coerce").to_numpy(dtype=np.float64)
        runtime = np.full(len(events), np.nan) if runtime_minutes is None else np.asarray(runtime_minutes, dtype=np.float64)
        runtime = np.where(np.isfinite(runtime) & (runtime > 0), runtime, DEFAULT_RUNTIME_MINUTES)
        share = np.clip(seconds / (runtime * 60.0), MIN_WATCH_SHARE, 1.0)
        is_watch = (events[C.EVENT_TYPE] == "watch").to_numpy() & np.isfinite(seconds)
        weight = np.where(is_watch, weight * share, weight)
    return weight.astype(np.float32)


def is_relevant(events: pd.DataFrame, cfg: InteractionsConfig) -> np.ndarray:
    """Relevant = rating >= min_relevant_rating, or any positive (implicit) event type."""
    value = pd.to_numeric(events[C.VALUE], errors="coerce").fillna(0.0).to_numpy()
    rated_high = (events[C.EVENT_TYPE] == "rating").to_numpy() & (value >= cfg.min_relevant_rating)
    positive = events[C.EVENT_TYPE].isin(cfg.positive_event_types).to_numpy()
    return rated_high | positive


def build_training_set(events: pd.DataFrame, movies: pd.DataFrame | np.ndarray, cfg: InteractionsConfig) -> TrainingSet:
    """`events` has user_id, movie_id, event_type, value, ts (datetime64); `movies` is the catalog
    (a frame with movie_id and metadata, or just the ids); movies outside the catalog are added."""
    if not isinstance(movies, pd.DataFrame):
        movies = pd.DataFrame({C.MOVIE_ID: np.asarray(movies, dtype=np.int64)})
    user_ids = np.unique(events[C.USER_ID].to_numpy(dtype=np.int64))
    item_ids = np.unique(np.concatenate([movies[C.MOVIE_ID].to_numpy(dtype=np.int64), events[C.MOVIE_ID].to_numpy(dtype=np.int64)]))
    rows = np.searchsorted(user_ids, events[C.USER_ID].to_numpy(dtype=np.int64))
    cols = np.searchsorted(item_ids, events[C.MOVIE_ID].to_numpy(dtype=np.int64))
    catalog = build_catalog(movies, item_ids)
    runtime = catalog.runtime[cols]
    weight = event_weights(events, cfg, runtime)
    shape = (len(user_ids), len(item_ids))
    weights = sparse.csr_matrix((weight, (rows, cols)), shape=shape, dtype=np.float32)
    weights.eliminate_zeros()
    seen = sparse.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=shape)
    seen.data[:] = 1
    ts = epoch_seconds(events[C.TS])
    frame = pd.DataFrame({"user_idx": rows, "item_idx": cols, "weight": weight, "ts": ts,
                          "event_type": events[C.EVENT_TYPE].array})
    frame = frame.sort_values(["user_idx", "ts"], kind="mergesort").reset_index(drop=True)
    return TrainingSet(user_ids, item_ids, weights, seen, frame, float(ts.max()) if len(ts) else 0.0, catalog)


def positive_sequences(train: TrainingSet) -> tuple[np.ndarray, np.ndarray]:
    """(items, starts): each user's positive-weight items in time order, concatenated; user u's are
    items[starts[u]:starts[u + 1]]."""
    pos = train.events[train.events["weight"] > 0]
    counts = np.bincount(pos["user_idx"].to_numpy(), minlength=train.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)])
    return pos["item_idx"].to_numpy(dtype=np.int64), starts


def last_items(items: np.ndarray, starts: np.ndarray, user_idx: np.ndarray, n: int) -> np.ndarray:
    """(len(user_idx), n): each user's last `n` items of `positive_sequences`, most recent first; -1 past a
    user's history and for unknown users (-1)."""
    user_idx = np.asarray(user_idx, dtype=np.int64)
    known = user_idx >= 0
    safe = np.maximum(user_idx, 0)
    lo, hi = starts[safe], starts[safe + 1]
    position = hi[:, None] - 1 - np.arange(n)[None, :]
    ok = known[:, None] & (position >= lo[:, None])
    if not len(items):
        return np.full(ok.shape, -1, dtype=np.int64)
    return np.where(ok, items[np.where(ok, position, 0)], -1)
