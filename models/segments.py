"""Lists for users we know only by their profile.

A *segment* is a combination of silver.users attributes (by default gender x age band). Its list is the movies most
watched by the segment's users, shrunk toward overall popularity by `shrinkage` pseudo-events, so a small segment
is mostly the overall list and a large one its own. Unless configured, the shrinkage is chosen on held-out users
(`choose_shrinkage`): where the attributes say nothing of taste (the synthetic users'), the lists become overall
popularity instead of its noisy copies. A user the users table knows but who has no events is served
their segment's list. A *genre list* (one per genre, and per genre and age band) answers an onboarding request
that names the genres a new user picked; the API merges the lists of the genres asked for.

Lists are keyed by audience ids below -1 (-1 is the fallback): segment s is `SEGMENT_BASE - s`, genre list j is
`GENRE_BASE - j`. `audience_keys` names them for the online store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from conf.settings import SegmentsConfig
from data_contracts import columns as C

if TYPE_CHECKING:   # the API imports this module for its key names and age bands: not the training stack
    from models.data import TrainingSet

SEGMENT_BASE = -2
GENRE_BASE = -1_000_000
SEGMENT_PREFIX = "__segment__:"
GENRE_PREFIX = "__genre__:"
UNKNOWN = "unknown"
AGE = "age"


@dataclass
class Segments:
    shrinkage: float            # pseudo-events of overall popularity in every segment's scores (inf: overall only)
    names: list[str]            # "gender=F|age=25-34", index = segment code
    ages: np.ndarray            # (n_segments,) youngest age of the segment's band; NaN when unknown (minors' rules)
    scores: np.ndarray          # (n_segments, n_items) float32
    genre_names: list[str]      # "Comedy" (any age) or "Comedy|age=25-34"
    genre_ages: np.ndarray      # (n_genre_lists,)
    genre_scores: np.ndarray    # (n_genre_lists, n_items) float32, -inf off the genre
    user_segment: np.ndarray    # (n_users,) each training user's segment code, -1 when the users table lacks them

    def audience_ids(self) -> np.ndarray:
        return np.concatenate([SEGMENT_BASE - np.arange(len(self.names)), GENRE_BASE - np.arange(len(self.genre_names))])

    def audience_keys(self) -> dict[int, str]:
        """Audience id -> the user part of its online-store key."""
        keys = {SEGMENT_BASE - s: SEGMENT_PREFIX + name for s, name in enumerate(self.names)}
        keys.update({GENRE_BASE - j: GENRE_PREFIX + name for j, name in enumerate(self.genre_names)})
        return keys

    def lookup(self, audience: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores, ages, is_genre_list) of audience ids (each < -1)."""
        audience = np.asarray(audience, dtype=np.int64)
        genre = audience <= GENRE_BASE
        index = np.where(genre, GENRE_BASE - audience, SEGMENT_BASE - audience)
        scores = np.where(genre[:, None], self.genre_scores[np.where(genre, index, 0)],
                          self.scores[np.where(genre, 0, index)])
        ages = np.where(genre, self.genre_ages[np.where(genre, index, 0)], self.ages[np.where(genre, 0, index)])
        return scores, ages, genre


def profile_columns(columns: list[str], cfg: SegmentsConfig) -> list[str]:
    """The silver.users columns segments (and the minors' rules, by age) read, of those the table has."""
    return [c for c in dict.fromkeys([AGE, *cfg.attributes]) if c in columns]


def band_labels(edges: list[int]) -> list[str]:
    """[18, 25] -> ["<18", "18-24", "25+"]."""
    inner = [f"{lo}-{hi - 1}" for lo, hi in zip(edges, edges[1:])]
    return [f"<{edges[0]}", *inner, f"{edges[-1]}+"] if edges else ["all"]


def age_band(age, edges: list[int]) -> np.ndarray:
    """Band label of each age; UNKNOWN where missing."""
    age = pd.to_numeric(pd.Series(age), errors="coerce").to_numpy(dtype=np.float64)
    labels = np.asarray(band_labels(edges), dtype=object)
    out = labels[np.searchsorted(np.asarray(edges, dtype=np.float64), np.nan_to_num(age), side="right")]
    return np.where(np.isnan(age), UNKNOWN, out)


def band_start(labels: np.ndarray, edges: list[int]) -> np.ndarray:
    """Youngest age of each band label (NaN for UNKNOWN and the youngest band: minors' rules apply)."""
    starts = {label: float(lo) for label, lo in zip(band_labels(edges)[1:], edges)}
    return np.array([starts.get(label, np.nan) for label in labels], dtype=np.float64)


def segment_names(users: pd.DataFrame, cfg: SegmentsConfig) -> np.ndarray:
    """Each user's segment name, e.g. "gender=F|age=25-34" (missing values are "unknown")."""
    parts = []
    for attribute in cfg.attributes:
        if attribute == AGE:
            values = age_band(users[AGE] if AGE in users else np.full(len(users), np.nan), cfg.age_bands)
        elif attribute in users:
            values = users[attribute].astype(object).where(users[attribute].notna(), UNKNOWN).astype(str).to_numpy()
        else:
            values = np.full(len(users), UNKNOWN, dtype=object)
        parts.append(f"{attribute}=" + values.astype(object))
    out = parts[0]
    for part in parts[1:]:
        out = out + "|" + part
    return out


def _age_of(name: str, edges: list[int]) -> float:
    for part in name.split("|"):
        if part.startswith(f"{AGE}="):
            return float(band_start(np.array([part[len(AGE) + 1:]]), edges)[0])
    return float("nan")


def fit_segments(train: TrainingSet, users: pd.DataFrame | None, cfg: SegmentsConfig) -> Segments | None:
    """Segment and genre lists' scores from the training events; None when disabled or no users table."""
    if not cfg.enabled or users is None or users.empty or not cfg.attributes:
        return None
    names_of_users = segment_names(users, cfg).astype(str)
    names, codes = np.unique(names_of_users, return_inverse=True)
    names = names.tolist()
    user_segment = np.full(train.n_users, -1, dtype=np.int32)
    idx = train.user_index(users[C.USER_ID].to_numpy())
    known = idx >= 0
    user_segment[idx[known]] = codes[known]

    ev = train.events
    weight = ev["weight"].to_numpy(dtype=np.float64)
    item = ev["item_idx"].to_numpy(dtype=np.int64)
    segment = user_segment[ev["user_idx"].to_numpy(dtype=np.int64)]
    n_items = train.n_items
    overall = np.bincount(item, weights=weight, minlength=n_items)
    has = segment >= 0
    counts = np.bincount(segment[has] * n_items + item[has], weights=weight[has],
                         minlength=len(names) * n_items).reshape(len(names), n_items)
    shrinkage = cfg.shrinkage
    if shrinkage is None:
        # Halves of the users drawn at random: ids can follow an attribute (sign-up order, an import by segment).
        halves = np.random.default_rng(0).integers(0, 2, train.n_users)
        fold = halves[ev["user_idx"].to_numpy(dtype=np.int64)[has]]
        shrinkage = choose_shrinkage(segment[has], item[has], weight[has], fold, len(names), n_items)
    prior = (shrinkage if np.isfinite(shrinkage) else 1e30) * overall / max(overall.sum(), 1e-12)
    ages = np.array([_age_of(n, cfg.age_bands) for n in names], dtype=np.float64)

    # Genre lists: overall (any age), and by age band when age is an attribute.
    bands = band_labels(cfg.age_bands) if AGE in cfg.attributes else []
    band_of_user = np.full(train.n_users, -1, dtype=np.int32)
    if bands:
        band_names = age_band(users[AGE] if AGE in users else np.full(len(users), np.nan), cfg.age_bands)
        band_of_user[idx[known]] = pd.Categorical(band_names[known], categories=bands).codes   # -1: unknown age
    event_band = band_of_user[ev["user_idx"].to_numpy(dtype=np.int64)]
    in_band = event_band >= 0
    band_counts = np.bincount(event_band[in_band] * n_items + item[in_band], weights=weight[in_band],
                              minlength=len(bands) * n_items).reshape(len(bands), n_items)
    genres, genre_names = train.catalog.genre_matrix()
    member = genres.T.toarray() > 0                                     # (n_genres, n_items)
    by_age = np.vstack([overall[None, :], band_counts + prior[None, :]])  # row 0: any age
    age_labels = [None, *bands]
    list_names, list_ages, list_scores = [], [], []
    for g, genre in enumerate(genre_names):
        for a, label in enumerate(age_labels):
            list_names.append(genre if label is None else f"{genre}|{AGE}={label}")
            list_ages.append(np.nan if label is None else band_start(np.array([label]), cfg.age_bands)[0])
            list_scores.append(np.where(member[g], by_age[a], -np.inf))
    return Segments(
        shrinkage=float(shrinkage), names=names, ages=ages, scores=(counts + prior[None, :]).astype(np.float32),
        genre_names=list_names, genre_ages=np.asarray(list_ages, dtype=np.float64),
        genre_scores=np.asarray(list_scores, dtype=np.float32).reshape(len(list_names), n_items),
        user_segment=user_segment,
    )


SHRINKAGE_GRID = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, np.inf)   # x the mean segment's event weight
TOP = 20


def shrinkage_unit(weight: np.ndarray, n_segments: int) -> float:
    """The mean segment's event weight (`weight`: the events of users with a segment): SHRINKAGE_GRID's unit."""
    return max(weight.sum() / max(n_segments, 1), 1e-12)


def choose_shrinkage(segment: np.ndarray, item: np.ndarray, weight: np.ndarray, fold: np.ndarray, n_segments: int,
                     n_items: int) -> float:
    """Pseudo-events (of SHRINKAGE_GRID x the mean segment's weight) whose segment lists, counted on one half of the
    users, put the most of the other half's weight in their top TOP; both halves in turn. inf: overall popularity."""
    mean = shrinkage_unit(weight, n_segments)
    score = np.zeros(len(SHRINKAGE_GRID))
    for fit in (0, 1):
        train, held = fold == fit, fold != fit
        counts = np.bincount(segment[train] * n_items + item[train], weights=weight[train],
                             minlength=n_segments * n_items).reshape(n_segments, n_items)
        overall = counts.sum(axis=0)
        share = overall / max(overall.sum(), 1e-12)
        truth = np.bincount(segment[held] * n_items + item[held], weights=np.maximum(weight[held], 0),
                            minlength=n_segments * n_items).reshape(n_segments, n_items)
        for g, factor in enumerate(SHRINKAGE_GRID):
            scores = np.broadcast_to(share, counts.shape) if np.isinf(factor) else counts + factor * mean * share
            top = np.argpartition(-scores, min(TOP, n_items - 1), axis=1)[:, :TOP]
            score[g] += np.take_along_axis(truth, top, axis=1).sum()
    best = int(np.flatnonzero(score >= score.max() * (1 - 1e-9))[-1])   # ties: the more shrunk
    return float(SHRINKAGE_GRID[best] * mean)
