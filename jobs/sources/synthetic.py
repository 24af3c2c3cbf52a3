"""Seeded synthetic data with the structure of real movie logs, at the scale of millions of users.

Users have latent genre tastes that drift over the window; movies have long-tail popularity,
genres, cast and a director; events follow taste x popularity, restricted to movies already
released, each movie at most once per user; some users sign up and some movies are released late
in the window, so cold starts exist; a few events reach the log days after they happened. Output
is TMDB-API-shaped movie JSON lines, user JSON lines and the event log as Parquet,
events/dt=<arrival day>/part-<chunk>.parquet.

Users are drawn in blocks of BLOCK_USERS, each block from its own seeded stream and with numpy on
the whole block, so memory stays bounded and the data depend only on the config and the seed.
A movie is drawn with p ∝ exp(12·affinity + 0.4·log popularity) over the movies released by the
event's time (affinity = the movie's genre mix · the user's taste then) by rejection: a genre g
with p ∝ exp(12·taste_g) x its released mass, a movie of g with p ∝ mix_g x popularity^0.4, kept
with probability exp(12·Σ mix·taste) / Σ mix·exp(12·taste), at most 1 by Jensen's inequality.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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
_ACTORS = [f"{a} {b}" for a in _NAMES for b in _SURNAMES]
_EVENT_TYPES = ["view", "click", "watch", "rating", "skip", "dismiss"]
_WATCH, _RATING = _EVENT_TYPES.index("watch"), _EVENT_TYPES.index("rating")
_DEVICES = ["tv", "web", "ios", "android"]

LATE_SHARE = 0.02      # events that reach the log 1 to 3 days after they happened
BLOCK_USERS = 10_000   # users drawn from one seeded stream: changing it changes the data, so it is fixed here
FILE_USERS = 100_000   # users per event part: about 10 files a day at a million users, one at the default size
TASTE = 12.0           # weight of genre affinity in an event's logit
POPULARITY = 0.4       # weight of log popularity in an event's logit
_ROUNDS = 64           # rejection and re-draw rounds; the few duplicates left after them are dropped
_US_PER_DAY = 86_400_000_000
_MAX_GENRES = 3
LAYOUT = "parquet-1"   # changes whenever the generator's output does, so files of an older one are not reused


@dataclass(frozen=True)
class Catalog:
    """The movies as documents, and the arrays events are drawn from (row i is movie 1000 + i)."""

    documents: list[dict]
    genres: np.ndarray       # (movies, 3) genre indexes into GENRES; slots past a movie's genres weigh 0
    weights: np.ndarray      # (movies, 3) genre mix; each row sums to 1
    popularity: np.ndarray
    release_day: np.ndarray  # days from the window's start; the back catalogue is negative
    runtime: np.ndarray


@dataclass(frozen=True)
class _Sampler:
    """Every (movie, genre) pair as a slot: genre after genre, each genre's movies by release day, so the
    movies of a genre released by a day are a prefix of its slots and one searchsorted draws among them.
    What is released changes only on release days: per distinct release day, each genre's released mass
    and last released slot are tabulated once."""

    movie: np.ndarray     # per slot: the movie's row
    cum: np.ndarray       # running sum over all slots of mix x popularity^0.4
    start: np.ndarray     # (genres + 1,) each genre's first slot
    base: np.ndarray      # (genres,) the running sum before each genre's first slot
    times: np.ndarray     # distinct release days, ascending; row k of the tables: released by times[k - 1]
    mass: np.ndarray      # (len(times) + 1, genres) released mass
    log_mass: np.ndarray  # the same, as float32 logs (-inf where nothing is released)
    last: np.ndarray      # (len(times) + 1, genres) last released slot (start - 1 where none)


@dataclass(frozen=True)
class SyntheticData:
    """All of a (small) dataset in memory; `events` as logged, plus `arrival`, its log's day."""

    movies: list[dict]
    users: pa.Table
    events: pa.Table


def _start_us(cfg: SyntheticConfig) -> int:
    return int(datetime.fromisoformat(cfg.start_date).replace(tzinfo=UTC).timestamp()) * 1_000_000


def catalog(cfg: SyntheticConfig, seed: int) -> Catalog:
    """The movies: 1-3 genres each, pareto popularity, release days, keywords, cast and director."""
    rng = np.random.default_rng([seed, 0])
    n, g = cfg.movies, len(GENRES)
    used = np.arange(_MAX_GENRES) < rng.integers(1, _MAX_GENRES + 1, n)[:, None]
    # k distinct random genres in GENRES' order; unused slots repeat the first, at weight 0, so every
    # slot indexes a real genre.
    genres = np.sort(np.where(used, np.argsort(rng.random((n, g)), axis=1)[:, :_MAX_GENRES], g), axis=1)
    genres = np.where(used, genres, genres[:, :1])
    mix = rng.standard_gamma(2.0, (n, _MAX_GENRES)) * used  # Dirichlet(2, ...) over the used slots
    weights = mix / mix.sum(axis=1, keepdims=True)
    popularity = rng.pareto(1.2, n) + 0.05  # long tail
    late = rng.random(n) < cfg.late_movie_share
    release_day = np.where(late, cfg.days * rng.uniform(0.85, 0.98, n), -rng.integers(30, 365 * 30, n).astype(float))
    runtime = rng.integers(80, 170, n)
    vote_average = np.round(np.clip(rng.normal(6.4, 1.0, n), 1, 10), 1)
    words = np.argsort(rng.random((n, _MAX_GENRES, 5)), axis=2)[:, :, :2]  # two distinct keywords per genre
    surname = rng.integers(0, len(_SURNAMES), n)
    lead = genres[np.arange(n), weights.argmax(axis=1)]
    # Cast: four of the lead genre's 18 regulars and 6 random actors, so genres share faces.
    pool = np.concatenate([lead[:, None] * len(_SURNAMES) + np.arange(len(_SURNAMES)),
                           rng.integers(0, len(_ACTORS), (n, 6))], axis=1)
    cast = np.take_along_axis(pool, np.argsort(rng.random(pool.shape), axis=1)[:, :4], axis=1)
    director = rng.integers(0, len(_ACTORS), n)
    release_date = np.datetime_as_string(
        np.datetime64(cfg.start_date, "D") + np.floor(release_day).astype("timedelta64[D]"), unit="D")
    documents = [
        _document(i, [int(x) for x in genres[i, used[i]]], words[i, used[i]], _SURNAMES[surname[i]], str(release_date[i]),
                  int(runtime[i]), float(vote_average[i]), float(popularity[i]), cast[i], int(director[i]))
        for i in range(n)
    ]
    return Catalog(documents, genres, weights, popularity, release_day, runtime)


def _document(i: int, genres: list[int], words: np.ndarray, surname: str, release_date: str, runtime: int,
              vote_average: float, popularity: float, cast: np.ndarray, director: int) -> dict:
    names = [GENRES[j][1] for j in genres]
    keywords = [_WORDS[name][k] for name, pair in zip(names, words) for k in pair]
    return {
        "id": 1000 + i,
        "title": f"The {keywords[0].title()} of {surname} {i}",
        "overview": f"A {names[0].lower()} story about {', '.join(keywords)}.",
        "release_date": release_date,
        "genres": [{"id": GENRES[j][0], "name": GENRES[j][1]} for j in genres],
        "runtime": runtime,
        "vote_average": vote_average,
        "vote_count": int(popularity * 500),
        "popularity": round(popularity * 10, 3),
        "adult": False,
        "poster_path": f"/syn{1000 + i}.jpg",
        "keywords": {"keywords": [{"id": k, "name": w} for k, w in enumerate(keywords)]},
        "credits": {
            "cast": [{"name": _ACTORS[a], "order": k} for k, a in enumerate(cast)],
            "crew": [{"job": "Director", "name": _ACTORS[director]}],
        },
    }


def sampler(movies: Catalog) -> _Sampler:
    rows, slots = np.nonzero(movies.weights > 0)
    genre = movies.genres[rows, slots]
    mass = movies.weights[rows, slots] * movies.popularity[rows] ** POPULARITY
    order = np.lexsort((rows, movies.release_day[rows], genre))
    release, cum = movies.release_day[rows][order], np.cumsum(mass[order])
    start = np.searchsorted(genre[order], np.arange(len(GENRES) + 1))
    base = np.concatenate([[0.0], cum])[start[:-1]]
    times = np.unique(movies.release_day)
    bounds = np.concatenate([[-np.inf], times])
    last = np.stack([start[g] + np.searchsorted(release[start[g]:start[g + 1]], bounds, side="right") - 1
                     for g in range(len(GENRES))], axis=1)
    released = np.where(last >= start[:-1], cum[np.maximum(last, 0)] - base, 0.0)
    with np.errstate(divide="ignore"):
        log_mass = np.log(released).astype(np.float32)
    return _Sampler(rows[order], cum, start, base, times, released, log_mass, last)


def _acceptance(movies: Catalog, taste: np.ndarray, movie: np.ndarray) -> np.ndarray:
    """exp(12·Σ mix·taste) / Σ mix·exp(12·taste): the target over the genre-mixture proposal, at most 1."""
    w = movies.weights[movie]
    t = np.take_along_axis(taste, movies.genres[movie], axis=1)
    return np.exp(TASTE * (w * t).sum(axis=1)) / (w * np.exp(TASTE * t)).sum(axis=1)


def draw_movies(rng: np.random.Generator, movies: Catalog, s: _Sampler, taste: np.ndarray, day: np.ndarray) -> np.ndarray:
    """One movie row per event, p ∝ exp(12·affinity + 0.4·log popularity) over the movies released by its
    `day`, for the user's `taste` (events, genres) then; -1 where nothing is released yet."""
    row = np.searchsorted(s.times, day, side="right")
    # float32 and no max-subtraction: logits stay within about ±40, far from float32's exp limits.
    genre_cum = np.cumsum(np.exp(np.float32(TASTE) * taste + s.log_mass[row]), axis=1)
    movie = np.full(len(day), -1, dtype=np.int64)
    todo = np.flatnonzero(genre_cum[:, -1] > 0)
    for _ in range(_ROUNDS):
        if not todo.size:
            break
        cum = genre_cum if todo.size == len(day) else genre_cum[todo]
        u = rng.random(todo.size, dtype=np.float32)[:, None] * cum[:, -1:]
        genre = np.minimum((cum <= u).sum(axis=1), len(GENRES) - 1)
        released = s.mass[row[todo], genre]
        target = s.base[genre] + rng.random(todo.size) * released
        slot = np.clip(np.searchsorted(s.cum, target, side="right"), s.start[genre], np.maximum(s.last[row[todo], genre], 0))
        pick = s.movie[slot]
        # A float edge can land on a genre with nothing released: that proposal is simply not kept.
        keep = (released > 0) & (rng.random(todo.size) <= _acceptance(movies, taste[todo], pick))
        movie[todo] = np.where(released > 0, pick, -1)  # should the rounds run out, the last proposal stands
        todo = todo[~keep]
    return movie


def _repeats(user: np.ndarray, movie: np.ndarray, n_movies: int) -> np.ndarray:
    """Events whose user had the same movie in an earlier event (events are in time order per user)."""
    valid = np.flatnonzero(movie >= 0)
    key = user[valid] * n_movies + movie[valid]
    order = np.argsort(key, kind="stable")
    again = np.flatnonzero(key[order][1:] == key[order][:-1]) + 1
    return valid[order[again]]


def _fixed_width(chars: np.ndarray) -> pa.Array:
    """Rows of a (n, width) uint8 matrix as n strings, without a Python loop."""
    n, width = chars.shape
    offsets = np.arange(0, width * n + 1, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars))).cast(pa.string())


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII decimal digits of non-negative `values`, zero-padded."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (48 + values[:, None] // powers % 10).astype(np.uint8)


def _hex(h: np.ndarray) -> np.ndarray:
    """(n, 16) lowercase hex digits of uint64 values."""
    nibbles = h.astype(">u8").view(np.uint8).reshape(-1, 8)
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    return hexdigits[np.stack([nibbles >> 4, nibbles & 15], axis=2)].reshape(-1, 16)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection on uint64, so distinct inputs keep distinct outputs."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def event_ids(user_id: np.ndarray, seq: np.ndarray, seed: int) -> np.ndarray:
    """Stable ids, unique per (seed, user, seq), as (n, 16) hex characters: a bijective hash of
    user << 32 | seq, keyed by the seed (hashlib per event would cost a minute at 50M events)."""
    key = (user_id.astype(np.uint64) << np.uint64(32)) | seq.astype(np.uint64)
    salt = _mix64(np.array([seed & (2**64 - 1)], dtype=np.uint64))
    return _hex(_mix64(key ^ salt))


def _strings(codes: np.ndarray, names: list[str]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(names)).cast(pa.string())


def _repeated(text: str, n: int) -> np.ndarray:
    return np.tile(np.frombuffer(text.encode(), dtype=np.uint8), (n, 1))


def _iso(us: np.ndarray, suffix: str) -> np.ndarray:
    """Epoch microseconds as (n, 26 + len(suffix)) ISO characters, '2026-01-01T12:34:56.123456' + `suffix`:
    datetime's strftime("%Y-%m-%dT%H:%M:%S.%f"), about ten times cheaper than Arrow's strftime."""
    n = len(us)
    day = us // _US_PER_DAY
    first = int(day.min()) if n else 0
    dates = np.datetime_as_string(np.arange(first, int(day.max()) + 1 if n else 1).astype("datetime64[D]"))
    in_day = us - day * _US_PER_DAY
    return np.concatenate([
        np.frombuffer(dates.astype("S10").tobytes(), dtype=np.uint8).reshape(-1, 10)[day - first], _repeated("T", n),
        _digits(in_day // 3_600_000_000, 2), _repeated(":", n), _digits(in_day // 60_000_000 % 60, 2), _repeated(":", n),
        _digits(in_day // 1_000_000 % 60, 2), _repeated(".", n), _digits(in_day % 1_000_000, 6), _repeated(suffix, n),
    ], axis=1)


def _categorical(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights, axis=1)
    return np.minimum((cum <= rng.random(len(weights))[:, None] * cum[:, -1:]).sum(axis=1), weights.shape[1] - 1)


def user_block(cfg: SyntheticConfig, seed: int, movies: Catalog, s: _Sampler, block: int) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """(users, events) of users block*BLOCK_USERS+1 onwards, from the block's own stream. Events are numpy
    columns (see `events_table`) plus `arrival`, the day (since the epoch) of the log an event lands in,
    and `us`, its time in epoch microseconds."""
    rng = np.random.default_rng([seed, 1, block])
    first_user = block * BLOCK_USERS
    b, g = min(BLOCK_USERS, cfg.users - first_user), len(GENRES)
    user_id = np.arange(first_user + 1, first_user + b + 1, dtype=np.int64)
    taste_start = rng.dirichlet(np.full(g, 0.2), b).astype(np.float32)
    taste_end = 0.7 * taste_start + 0.3 * rng.dirichlet(np.full(g, 0.3), b).astype(np.float32)  # drift
    late = rng.random(b) < cfg.late_user_share
    first_day = np.where(late, rng.uniform(0.9, 0.97, b), rng.uniform(0, 0.5, b)) * cfg.days
    activity = rng.lognormal(0, 0.6, b)
    n_events = np.maximum(3, (cfg.events_per_user * activity * np.where(late, 0.3, 1.0)).astype(np.int64))
    gender = rng.choice(3, b, p=[0.48, 0.48, 0.04])
    age = np.array([16, 22, 30, 40, 50, 60])[rng.choice(6, b, p=[0.08, 0.25, 0.27, 0.2, 0.12, 0.08])]
    start_us = _start_us(cfg)
    users = pa.table({
        "user_id": user_id,
        "gender": _strings(gender, ["F", "M", "X"]),
        "age": age.astype(np.int64),
        "signup_ts": _fixed_width(_iso(start_us + np.round(first_day * _US_PER_DAY).astype(np.int64), "+00:00")),
    })

    who = np.repeat(np.arange(b), n_events)
    day = first_day[who] + rng.random(len(who)) * (cfg.days - first_day[who])
    day = day[np.argsort(who * (cfg.days + 1.0) + day)]  # time order within each user; a fraction of lexsort's cost
    seq = np.arange(len(who)) - np.repeat(np.cumsum(n_events) - n_events, n_events)
    frac = (day / cfg.days).astype(np.float32)[:, None]
    taste = taste_start[who]
    taste += frac * (taste_end[who] - taste)
    movie = draw_movies(rng, movies, s, taste, day)
    suspects = np.arange(len(who))
    for _ in range(_ROUNDS):  # a user sees a movie once: later repeats are drawn again
        again = suspects[_repeats(who[suspects], movie[suspects], cfg.movies)]
        if not again.size:
            break
        movie[again] = draw_movies(rng, movies, s, taste[again], day[again])
        suspects = np.flatnonzero(np.isin(who, who[again]))  # only these users can repeat now
    movie[suspects[_repeats(who[suspects], movie[suspects], cfg.movies)]] = -1
    kept = movie >= 0
    who, day, seq, taste, movie = who[kept], day[kept], seq[kept], taste[kept], movie[kept]

    n = len(who)
    affinity = (movies.weights[movie] * np.take_along_axis(taste, movies.genres[movie], axis=1)).sum(axis=1)
    like = 1 / (1 + np.exp(-8 * (affinity - 0.15)))
    kind = _categorical(rng, np.stack([np.full(n, 0.25), np.full(n, 0.2), 0.35 * like + 0.05, np.full(n, 0.15),
                                       0.1 * (1 - like), 0.03 * (1 - like)], axis=1))
    rating = np.clip(np.round((1.5 + 3.5 * like + rng.normal(0, 0.6, n)) * 2) / 2, 0.5, 5.0)
    watched = np.round(movies.runtime[movie] * 60 * np.clip(like + rng.normal(0, 0.15, n), 0.05, 1.0))
    device = rng.integers(0, len(_DEVICES), n)
    ts_us = start_us + np.round(day * _US_PER_DAY).astype(np.int64)
    delay = np.where(rng.random(n) < LATE_SHARE, rng.integers(1, 4, n), 0)
    events = {
        "event_id": event_ids(user_id[who], seq, seed),
        "user_id": user_id[who],
        "movie_id": 1000 + movie,
        "event_type": kind.astype(np.int8),
        "value": np.where(kind == _RATING, rating, np.nan),
        "watch_seconds": np.where(kind == _WATCH, watched, np.nan),
        "device": device.astype(np.int8),
        "ts": _iso(ts_us, "Z"),
        "arrival": (ts_us // _US_PER_DAY + delay).astype(np.int32),
        "us": ts_us,
    }
    return users, events


def events_table(events: dict[str, np.ndarray], rows: slice = slice(None)) -> pa.Table:
    """`rows` of numpy event columns as the logged table: strings from their byte matrices and codes,
    NaN value and watch_seconds as nulls."""
    e = {name: column[rows] for name, column in events.items()}
    return pa.table({
        "event_id": _fixed_width(e["event_id"]),
        "user_id": e["user_id"],
        "movie_id": e["movie_id"],
        "event_type": _strings(e["event_type"], _EVENT_TYPES),
        "value": pa.array(e["value"], mask=np.isnan(e["value"])),
        "watch_seconds": pa.array(e["watch_seconds"], mask=np.isnan(e["watch_seconds"])),
        "device": _strings(e["device"], _DEVICES),
        "ts": _fixed_width(e["ts"]),
    })


def _by_arrival(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The blocks' events as one set of columns ordered by arrival day, then time; each block's column is
    let go once copied, so the peak is the blocks plus one column."""
    arrival = np.concatenate([p["arrival"] for p in parts])
    order = np.lexsort((np.concatenate([p["us"] for p in parts]), arrival))
    out = {}
    for name in list(parts[0]):
        out[name] = np.concatenate([p.pop(name) for p in parts])[order]
    return out


def blocks(cfg: SyntheticConfig) -> range:
    return range(-(-cfg.users // BLOCK_USERS))


def generate(cfg: SyntheticConfig, seed: int) -> SyntheticData:
    """Everything in memory, for small configs (tests): `write_synthetic` streams the same data to files."""
    movies = catalog(cfg, seed)
    s = sampler(movies)
    users, events = zip(*(user_block(cfg, seed, movies, s, b) for b in blocks(cfg)))
    events = _by_arrival(list(events))
    return SyntheticData(movies.documents, pa.concat_tables(users),
                         events_table(events).append_column("arrival", pa.array(events["arrival"].astype("datetime64[D]"))))


def _user_lines(users: pa.Table) -> pa.Array:
    """Users as JSON lines in json.dumps' layout; the values need no escaping (digits, F/M/X, ISO times)."""
    return pc.binary_join_element_wise(
        '{"user_id": ', pc.cast(users["user_id"], pa.string()), ', "gender": "', users["gender"],
        '", "age": ', pc.cast(users["age"], pa.string()), ', "signup_ts": "', users["signup_ts"], '"}\n', "")


def _joined(lines: pa.ChunkedArray) -> bytes:
    """The strings of `lines` back to back: one bytes object, no per-row Python."""
    array = lines.combine_chunks()
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset:array.offset + len(array) + 1]
    return memoryview(array.buffers()[2])[offsets[0]:offsets[-1]].tobytes()


def _write_days(events: dict[str, np.ndarray], folder: Path, part: int) -> None:
    """One Parquet file per arrival day of events ordered by arrival: folder/dt=<day>/part-<part>.parquet."""
    arrival = events["arrival"]
    bounds = np.flatnonzero(np.diff(arrival)) + 1
    for lo, hi in zip([0, *bounds], [*bounds, len(arrival)]):
        path = folder / f"dt={np.datetime64(int(arrival[lo]), 'D')}" / f"part-{part:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")  # a leading dot: readers skip it until it is whole
        pq.write_table(events_table(events, slice(lo, hi)), tmp, compression="zstd")
        tmp.replace(path)


def write_synthetic(cfg: SyntheticConfig, seed: int, out_dir: Path) -> dict[str, Path]:
    """Write movies.jsonl and users.jsonl, and the event log as events/dt=<arrival day>/part-<n>.parquet,
    under `out_dir`; return their paths (the events' folder for the log)."""
    paths = {"movies": out_dir / "movies.jsonl", "users": out_dir / "users.jsonl", "events": out_dir / "events"}
    # Generation is deterministic: the same config and seed means the same files, so a daily ingest
    # reuses them instead of generating the whole window again.
    marker = out_dir / ".generated"
    fingerprint = hashlib.sha1(f"{cfg.model_dump_json()}:{seed}:{LAYOUT}".encode()).hexdigest()
    if marker.exists() and marker.read_text() == fingerprint:
        return paths
    marker.unlink(missing_ok=True)
    shutil.rmtree(paths["events"], ignore_errors=True)  # a smaller config must not leave old days behind
    movies = catalog(cfg, seed)
    s = sampler(movies)
    out_dir.mkdir(parents=True, exist_ok=True)
    users_tmp = paths["users"].with_suffix(".tmp")
    per_file = FILE_USERS // BLOCK_USERS
    with users_tmp.open("wb") as users_out:
        for part in range(-(-len(blocks(cfg)) // per_file)):
            users, events = zip(*(user_block(cfg, seed, movies, s, b)
                                  for b in blocks(cfg)[part * per_file:(part + 1) * per_file]))
            for table in users:
                users_out.write(_joined(_user_lines(table)))
            _write_days(_by_arrival(list(events)), paths["events"], part)
            del users, events
    users_tmp.replace(paths["users"])
    write_jsonl(paths["movies"], movies.documents)
    marker.write_text(fingerprint)
    return paths
