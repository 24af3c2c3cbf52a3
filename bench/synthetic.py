"""How fast the synthetic source writes its files, in how much memory, and what the data look like.

    .venv/bin/python bench/synthetic.py [--users 100000] [--movies 20000] [--events-per-user 50] [--out /tmp/movierec-synthetic]
    .venv/bin/python bench/synthetic.py --users 2000 --movies 800 --events-per-user 40   # conf/base.yaml's size
    .venv/bin/python bench/synthetic.py --stats-only <landing folder>                   # files written earlier

Writes the landing files (jobs.sources.synthetic.write_synthetic), then prints the wall time, events/s
and the process's peak RSS at that point (before the statistics read anything back), then statistics
read back from the files, of the first --stats-users users:
- top-3 genre share: events on a movie of one of the user's 3 most watched genres (genres of a movie
  count 1/k each); held out: the top 3 from each user's first 80% of events by time, scored on the
  last 20%, beside the same share for the catalogue-wide top 3 (what taste adds over no taste);
- the events per movie's Gini coefficient and the top 10% of movies' share (the long tail);
- events on movies released inside the window, late arrivals (logged on a later day than they
  happened), late users (first event in the last 10% of the window), repeated (user, movie) pairs and
  events before their movie's release.
--stats-only reads a landing folder without generating it, in either layout (events/dt=*/ JSON lines
or Parquet), e.g. one the previous generator wrote, to compare before and after.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conf.settings import SyntheticConfig  # noqa: E402
from jobs.sources.synthetic import write_synthetic  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def count_events(events: Path) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows if f.suffix == ".parquet" else sum(1 for _ in f.open())
               for f in events.rglob("*") if f.is_file() and not f.name.startswith("."))


def read_events(events: Path, max_user: int) -> pd.DataFrame:
    """user_id, movie_id, ts (UTC) and arrival (the dt folder's day) of users 1..max_user."""
    frames = []
    for day in sorted(events.glob("dt=*")):
        for f in sorted(day.iterdir()):
            if f.name.startswith("."):
                continue
            columns = ["user_id", "movie_id", "ts"]
            frame = (pq.read_table(f, columns=columns, filters=[("user_id", "<=", max_user)]).to_pandas()
                     if f.suffix == ".parquet" else pd.read_json(f, lines=True, dtype=False)[columns])
            frames.append(frame[frame["user_id"] <= max_user].assign(arrival=day.name.removeprefix("dt=")))
    frame = pd.concat(frames, ignore_index=True)
    return frame.assign(ts=pd.to_datetime(frame["ts"], utc=True), arrival=pd.to_datetime(frame["arrival"]).dt.date)


def read_movies(path: Path) -> pd.DataFrame:
    with path.open() as fh:
        docs = [json.loads(line) for line in fh]
    return pd.DataFrame({"movie_id": [d["id"] for d in docs], "release_date": [d["release_date"] for d in docs],
                         "genres": [[g["name"] for g in d["genres"]] for d in docs]})


def genre_matrix(movies: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    names = sorted({g for genres in movies["genres"] for g in genres})
    mix = np.zeros((len(movies), len(names)))
    for i, genres in enumerate(movies["genres"]):
        for g in genres:
            mix[i, names.index(g)] = 1 / len(genres)
    return mix, names


def top3_share(user: np.ndarray, movie: np.ndarray, top3: np.ndarray, mix: np.ndarray) -> float:
    """Share of events (user, movie) whose movie has a genre among its user's row of `top3` (users, genres)."""
    return float((top3[user] & (mix[movie] > 0)).any(axis=1).mean()) if len(user) else float("nan")


def top3_of(user: np.ndarray, movie: np.ndarray, mix: np.ndarray, n_users: int) -> np.ndarray:
    profile = np.stack([np.bincount(user, weights=mix[movie, g], minlength=n_users) for g in range(mix.shape[1])], axis=1)
    top = np.zeros(profile.shape, dtype=bool)
    np.put_along_axis(top, np.argsort(-profile, axis=1, kind="stable")[:, :3], True, axis=1)
    return top


def gini(counts: np.ndarray) -> float:
    x = np.sort(counts).astype(float)
    n = len(x)
    return float(2 * np.sum(np.arange(1, n + 1) * x) / (n * x.sum()) - (n + 1) / n)


def statistics(folder: Path, start: date, days: int, max_user: int) -> dict[str, float]:
    movies = read_movies(folder / "movies.jsonl")
    events = read_events(folder / "events", max_user).sort_values(["user_id", "ts"], kind="stable", ignore_index=True)
    mix, _ = genre_matrix(movies)
    movie_row = pd.Series(np.arange(len(movies)), index=movies["movie_id"])[events["movie_id"]].to_numpy()
    user_ids, user = np.unique(events["user_id"].to_numpy(), return_inverse=True)
    n_users = len(user_ids)

    position = events.groupby("user_id").cumcount().to_numpy()
    size = events.groupby("user_id")["user_id"].transform("size").to_numpy()
    train = position < np.ceil(0.8 * size)
    own = top3_of(user[train], movie_row[train], mix, n_users)
    overall = np.zeros(mix.shape[1], dtype=bool)
    overall[np.argsort(-mix[movie_row[train]].sum(axis=0))[:3]] = True
    counts = np.bincount(movie_row, minlength=len(movies))
    top_tenth = np.sort(counts)[::-1][: max(1, len(counts) // 10)].sum() / counts.sum()

    ts_day = events["ts"].dt.date
    release = pd.to_datetime(movies["release_date"]).dt.date.to_numpy()[movie_row]
    first_event = events.groupby("user_id")["ts"].min()
    late_cut = pd.Timestamp(start, tz="UTC") + timedelta(days=0.9 * days)
    return {
        "users (read)": n_users,
        "events (read)": len(events),
        "events per user": len(events) / n_users,
        "top-3 genre share, all events": top3_share(user, movie_row, top3_of(user, movie_row, mix, n_users), mix),
        "top-3 genre share, held out (own taste)": top3_share(user[~train], movie_row[~train], own, mix),
        "top-3 genre share, held out (catalogue top 3)": top3_share(
            user[~train], movie_row[~train], np.broadcast_to(overall, own.shape), mix),
        "events per movie: Gini": gini(counts),
        "events per movie: top 10% of movies' share": float(top_tenth),
        "movies with no event": float((counts == 0).mean()),
        "events on movies released in the window": float(np.mean(release >= start)),
        "late arrivals (logged on a later day)": float(np.mean(events["arrival"].to_numpy() > ts_day.to_numpy())),
        "late users (first event in the last 10%)": float(np.mean(first_event >= late_cut)),
        "repeated (user, movie) events": float(events.duplicated(["user_id", "movie_id"]).mean()),
        "events before their movie's release": float(np.mean(ts_day.to_numpy() < release)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--movies", type=int, default=20_000)
    parser.add_argument("--events-per-user", type=int, default=50)
    parser.add_argument("--days", type=int, default=SyntheticConfig().days)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("/tmp/movierec-synthetic"))
    parser.add_argument("--stats-users", type=int, default=100_000, help="statistics of users 1..N only")
    parser.add_argument("--stats-only", type=Path, help="a landing folder to describe; nothing is generated")
    args = parser.parse_args()
    cfg = SyntheticConfig(users=args.users, movies=args.movies, events_per_user=args.events_per_user, days=args.days)
    folder = args.stats_only
    if folder is None:
        folder = args.out
        shutil.rmtree(folder, ignore_errors=True)
        began = time.perf_counter()
        paths = write_synthetic(cfg, args.seed, folder)
        wall = time.perf_counter() - began
        rss = peak_rss_mb()
        n = count_events(paths["events"])
        files = sum(1 for _ in paths["events"].rglob("*.parquet"))
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
        print(f"generated users={cfg.users} movies={cfg.movies} events_per_user={cfg.events_per_user} days={cfg.days}: "
              f"{n} events in {wall:.1f} s = {n / wall:,.0f} events/s; peak RSS {rss:,.0f} MiB; "
              f"{files} event files, {size:,.0f} MiB on disk", flush=True)
    stats = statistics(folder, date.fromisoformat(cfg.start_date), cfg.days, args.stats_users)
    width = max(map(len, stats))
    for name, value in stats.items():
        print(f"  {name:<{width}}  {value:,.4f}" if isinstance(value, float) else f"  {name:<{width}}  {value:,}")


if __name__ == "__main__":
    main()
