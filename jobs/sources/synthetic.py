"""Seeded synthetic data with the structure of real movie logs.

Users have latent genre tastes that drift over the window; movies have long-tail popularity,
genres, cast and a director; events follow taste x popularity, restricted to movies already
released; some users sign up and some movies are released late in the window, so cold
starts exist. Output is TMDB-API-shaped movie JSON lines, event JSONL and user JSONL.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC
from pathlib import Path

import numpy as np

from conf.settings import SyntheticConfig
from jobs.sources.files import write_jsonl

GENRES = [
    (28, "Action"), (12, "Adventure"), (16, "Animation"), (35, "Comedy"), (80, "Crime"),
    (99, "Documentary"), (18, "Drama"), (10751, "Family"), (14, "Fantasy"), (36, "History"),
    (27, "Horror"), (10402, "Music"), (9648, "Mystery"), (10749, "Romance"),
    (878, "Science Fiction"), (53, "Thriller"), (10752, "War"), (37, "Western"),
]
_WORDS = {
    "Action": ["heist", "chase", "mercenary", "explosion", "rogue agent"],
    "Adventure": ["expedition", "treasure", "jungle", "quest", "island"],
    "Animation": ["talking animals", "magic kingdom", "robot friend", "toy", "dragon"],
    "Comedy": ["road trip", "wedding", "roommates", "prank", "office"],
    "Crime": ["detective", "mafia", "robbery", "corruption", "courtroom"],
    "Documentary": ["nature", "archive footage", "interviews", "climate", "music scene"],
    "Drama": ["family secrets", "grief", "ambition", "small town", "redemption"],
    "Family": ["holiday", "siblings", "pet", "summer camp", "grandparents"],
    "Fantasy": ["wizard", "prophecy", "enchanted forest", "curse", "sword"],
    "History": ["empire", "revolution", "biography", "ancient rome", "monarchy"],
    "Horror": ["haunted house", "possession", "slasher", "cabin", "ritual"],
    "Music": ["band", "concert", "musician", "record deal", "tour"],
    "Mystery": ["disappearance", "clues", "twist", "amnesia", "secret society"],
    "Romance": ["first love", "paris", "letters", "second chance", "wedding planner"],
    "Science Fiction": ["space station", "time travel", "artificial intelligence", "alien", "dystopia"],
    "Thriller": ["hostage", "conspiracy", "stalker", "spy", "countdown"],
    "War": ["battlefield", "resistance", "soldier", "occupation", "pilot"],
    "Western": ["outlaw", "frontier", "sheriff", "gold rush", "ranch"],
}
_NAMES = ["Avery", "Blake", "Casey", "Drew", "Emery", "Finley", "Harper", "Jordan", "Kai",
          "Logan", "Morgan", "Noel", "Parker", "Quinn", "Reese", "Rowan", "Sage", "Taylor"]
_SURNAMES = ["Stone", "Vale", "Hart", "Quill", "Marsh", "Frost", "Lane", "Reyes", "Okafor",
             "Novak", "Sato", "Ibsen", "Moreau", "Silva", "Kowal", "Berg", "Dune", "Ash"]
_EVENT_TYPES = np.array(["view", "click", "watch", "rating", "skip", "dismiss"])
_DEVICES = np.array(["tv", "web", "ios", "android"])


@dataclass(frozen=True)
class SyntheticData:
    movies: list[dict]
    users: list[dict]
    events: list[dict]


def _event_id(user_id: int, seq: int, seed: int) -> str:
    return hashlib.sha1(f"syn:{seed}:{user_id}:{seq}".encode()).hexdigest()[:20]


def _movies(cfg: SyntheticConfig, rng: np.random.Generator, start: datetime) -> tuple[list[dict], np.ndarray, np.ndarray, np.ndarray]:
    n, g = cfg.movies, len(GENRES)
    genre_mix = np.zeros((n, g))
    for i in range(n):
        picks = rng.choice(g, size=rng.integers(1, 4), replace=False)
        genre_mix[i, picks] = rng.dirichlet(np.ones(len(picks)) * 2)
    popularity = rng.pareto(1.2, n) + 0.05  # long tail
    late = rng.random(n) < cfg.late_movie_share
    window = timedelta(days=cfg.days)
    release = np.array([
        start + window * rng.uniform(0.85, 0.98) if is_late
        else start - timedelta(days=int(rng.integers(30, 365 * 30)))
        for is_late in late
    ])
    actors = [f"{a} {b}" for a in _NAMES for b in _SURNAMES]
    movies = []
    for i in range(n):
        names = [GENRES[j][1] for j in np.flatnonzero(genre_mix[i])]
        words = [w for name in names for w in rng.choice(_WORDS[name], size=2, replace=False)]
        lead = int(np.argmax(genre_mix[i]))
        cast_pool = actors[lead * 18:(lead + 1) * 18] + list(rng.choice(actors, 6))
        movies.append({
            "id": 1000 + i,
            "title": f"The {words[0].title()} of {rng.choice(_SURNAMES)} {i}",
            "overview": f"A {names[0].lower()} story about {', '.join(words)}.",
            "release_date": release[i].date().isoformat(),
            "genres": [{"id": GENRES[j][0], "name": GENRES[j][1]} for j in np.flatnonzero(genre_mix[i])],
            "runtime": int(rng.integers(80, 170)),
            "vote_average": round(float(np.clip(rng.normal(6.4, 1.0), 1, 10)), 1),
            "vote_count": int(popularity[i] * 500),
            "popularity": round(float(popularity[i] * 10), 3),
            "adult": False,
            "poster_path": f"/syn{1000 + i}.jpg",
            "keywords": {"keywords": [{"id": k, "name": w} for k, w in enumerate(words)]},
            "credits": {
                "cast": [{"name": str(a), "order": k} for k, a in enumerate(rng.choice(cast_pool, 4, replace=False))],
                "crew": [{"job": "Director", "name": str(rng.choice(actors))}],
            },
        })
    release_day = np.array([(r - start).total_seconds() / 86400 for r in release])
    return movies, genre_mix, popularity, release_day


def generate(cfg: SyntheticConfig, seed: int) -> SyntheticData:
    """Generate movies, users and events deterministically from `seed`."""
    rng = np.random.default_rng(seed)
    start = datetime.fromisoformat(cfg.start_date).replace(tzinfo=UTC)
    movies, genre_mix, popularity, release_day = _movies(cfg, rng, start)
    g = len(GENRES)
    log_pop = np.log(popularity)
    users, events = [], []
    for u in range(cfg.users):
        user_id = 1 + u
        taste_start = rng.dirichlet(np.ones(g) * 0.2)
        taste_end = 0.7 * taste_start + 0.3 * rng.dirichlet(np.ones(g) * 0.3)  # drift
        is_late = rng.random() < cfg.late_user_share
        first_day = rng.uniform(0.9, 0.97) * cfg.days if is_late else rng.uniform(0, 0.5) * cfg.days
        activity = rng.lognormal(0, 0.6)
        n_events = max(3, int(cfg.events_per_user * activity * (0.3 if is_late else 1)))
        days = np.sort(rng.uniform(first_day, cfg.days, n_events))
        users.append({
            "user_id": user_id,
            "gender": str(rng.choice(["F", "M", "X"], p=[0.48, 0.48, 0.04])),
            "age": int(rng.choice([16, 22, 30, 40, 50, 60], p=[0.08, 0.25, 0.27, 0.2, 0.12, 0.08])),
            "signup_ts": (start + timedelta(days=float(first_day))).isoformat(),
        })
        seen: set[int] = set()
        for seq, day in enumerate(days):
            frac = day / cfg.days
            taste = (1 - frac) * taste_start + frac * taste_end
            affinity = genre_mix @ taste
            logits = 12.0 * affinity + 0.4 * log_pop
            logits[release_day > day] = -np.inf
            if seen:
                logits[list(seen)] = -np.inf
            if not np.isfinite(logits).any():
                break  # this user has seen every movie released so far
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            item = int(rng.choice(len(movies), p=probs))
            seen.add(item)
            events.append(_event(rng, movies[item], user_id, _event_id(user_id, seq, seed),
                                 start + timedelta(days=float(day)), affinity[item]))
    return SyntheticData(movies=movies, users=users, events=events)


def _event(rng: np.random.Generator, movie: dict, user_id: int, event_id: str, ts: datetime, affinity: float) -> dict:
    like = 1 / (1 + np.exp(-8 * (affinity - 0.15)))
    weights = np.array([0.25, 0.2, 0.35 * like + 0.05, 0.15, 0.1 * (1 - like), 0.03 * (1 - like)])
    kind = str(rng.choice(_EVENT_TYPES, p=weights / weights.sum()))
    value = watch = None
    if kind == "rating":
        value = float(np.clip(np.round((1.5 + 3.5 * like + rng.normal(0, 0.6)) * 2) / 2, 0.5, 5.0))
    if kind == "watch":
        watch = float(round(movie["runtime"] * 60 * np.clip(like + rng.normal(0, 0.15), 0.05, 1.0)))
    return {
        "event_id": event_id, "user_id": user_id, "movie_id": movie["id"], "event_type": kind,
        "value": value, "watch_seconds": watch, "device": str(rng.choice(_DEVICES)),
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


LATE_SHARE = 0.02  # events that reach the log 1 to 3 days after they happened


def arrival_days(events: list[dict], seed: int) -> list[str]:
    """The day each event lands in the log: its own day, or 1-3 days later for a few (late events)."""
    rng = np.random.default_rng(seed + 1)  # its own stream: the events themselves do not change
    late = rng.random(len(events)) < LATE_SHARE
    delay = rng.integers(1, 4, len(events))
    return [(datetime.fromisoformat(e["ts"].replace("Z", "+00:00")) + timedelta(days=int(d) if is_late else 0)).date().isoformat()
            for e, is_late, d in zip(events, late, delay)]


def write_synthetic(cfg: SyntheticConfig, seed: int, out_dir: Path) -> dict[str, Path]:
    """Write movies.jsonl and users.jsonl, and the event log as events/dt=<arrival day>/events.jsonl,
    under `out_dir`; return their paths (the events' folder for the log)."""
    paths = {"movies": out_dir / "movies.jsonl", "users": out_dir / "users.jsonl", "events": out_dir / "events"}
    # Generation is deterministic: the same config and seed means the same files, so a daily ingest
    # reuses them instead of generating the whole window again.
    marker = out_dir / ".generated"
    fingerprint = hashlib.sha1(f"{cfg.model_dump_json()}:{seed}".encode()).hexdigest()
    if marker.exists() and marker.read_text() == fingerprint:
        return paths
    data = generate(cfg, seed)
    shutil.rmtree(out_dir / "events", ignore_errors=True)  # a smaller config must not leave old days behind
    by_day: dict[str, list[dict]] = {}
    for event, day in zip(data.events, arrival_days(data.events, seed)):
        by_day.setdefault(day, []).append(event)
    for day, rows in by_day.items():
        write_jsonl(out_dir / "events" / f"dt={day}" / "events.jsonl", rows)
    write_jsonl(paths["movies"], data.movies)
    write_jsonl(paths["users"], data.users)
    marker.write_text(fingerprint)
    return paths
