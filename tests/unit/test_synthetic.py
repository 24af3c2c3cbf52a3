"""The synthetic source: deterministic files, the structure of real logs, and draws from the intended
distribution."""

import json
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conf.settings import SyntheticConfig
from jobs.sources import synthetic
from jobs.sources.synthetic import GENRES, catalog, draw_movies, generate, sampler, write_synthetic

TINY = SyntheticConfig(users=300, movies=120, events_per_user=20, days=60)
START = date.fromisoformat(TINY.start_date)


def files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def logged(folder) -> list[dict]:
    """Every logged event, with `dt` (its folder's day) and `part` (its file) added."""
    return [{**row, "dt": part.parent.name.removeprefix("dt="), "part": part.name}
            for part in sorted((folder / "events").rglob("*.parquet")) for row in pq.read_table(part).to_pylist()]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    write_synthetic(TINY, 7, folder)
    return folder


def test_same_seed_same_bytes_other_seed_other_data(written, tmp_path):
    write_synthetic(TINY, 7, tmp_path / "again")
    assert files(tmp_path / "again") == files(written)
    write_synthetic(TINY, 8, tmp_path / "other")
    other = files(tmp_path / "other")
    assert other.keys() & files(written).keys(), "the same layout"
    assert other["users.jsonl"] != files(written)["users.jsonl"] and logged(tmp_path / "other") != logged(written)


def test_the_files_are_what_ingest_expects(written):
    events = logged(written)
    schema = pq.read_schema(next((written / "events").rglob("*.parquet")))
    assert schema.remove_metadata() == pa.schema([
        ("event_id", pa.string()), ("user_id", pa.int64()), ("movie_id", pa.int64()), ("event_type", pa.string()),
        ("value", pa.float64()), ("watch_seconds", pa.float64()), ("device", pa.string()), ("ts", pa.string())])
    assert all(datetime.strptime(e["ts"], "%Y-%m-%dT%H:%M:%S.%fZ") for e in events)
    kinds = {e["event_type"] for e in events}
    assert kinds == {"view", "click", "watch", "rating", "skip", "dismiss"}
    assert all((e["value"] is not None) == (e["event_type"] == "rating") for e in events)
    assert all((e["watch_seconds"] is not None) == (e["event_type"] == "watch") for e in events)
    assert all(0.5 <= e["value"] <= 5 and e["value"] * 2 == int(e["value"] * 2) for e in events if e["value"] is not None)
    users = [json.loads(line) for line in (written / "users.jsonl").read_text().splitlines()]
    assert [u["user_id"] for u in users] == list(range(1, TINY.users + 1))
    assert all(datetime.fromisoformat(u["signup_ts"]).utcoffset() == timedelta(0) for u in users)
    movies = [json.loads(line) for line in (written / "movies.jsonl").read_text().splitlines()]
    assert len(movies) == TINY.movies and all(1 <= len(m["genres"]) <= 3 and m["credits"]["crew"] for m in movies)


def test_events_follow_release_never_repeat_and_have_unique_ids(written):
    events = logged(written)
    movies = {json.loads(line)["id"]: json.loads(line) for line in (written / "movies.jsonl").read_text().splitlines()}
    assert all(e["ts"][:10] >= movies[e["movie_id"]]["release_date"] for e in events), "no event before its movie's release"
    assert len({(e["user_id"], e["movie_id"]) for e in events}) == len(events), "a user meets a movie once"
    assert len({e["event_id"] for e in events}) == len(events)
    late_movies = {m for m, doc in movies.items() if doc["release_date"] > TINY.start_date}
    assert late_movies and any(e["movie_id"] in late_movies for e in events), "movies released in the window are watched"


def test_late_users_start_late_with_fewer_events(written):
    events = logged(written)
    first, count = {}, {}
    for e in events:
        first[e["user_id"]] = min(first.get(e["user_id"], e["ts"]), e["ts"])
        count[e["user_id"]] = count.get(e["user_id"], 0) + 1
    cut = (START + timedelta(days=0.9 * TINY.days)).isoformat()
    late = [u for u in first if first[u] >= cut]
    assert 0.03 * TINY.users < len(late) < 0.2 * TINY.users
    assert np.mean([count[u] for u in late]) < 0.5 * np.mean([count[u] for u in first if u not in late])
    users = {u["user_id"]: u for u in map(json.loads, (written / "users.jsonl").read_text().splitlines())}
    assert all(first[u] >= users[u]["signup_ts"][:19] for u in first), "no event before signing up"


def test_some_events_arrive_days_late_in_a_later_folder(written):
    events = logged(written)
    delay = [(date.fromisoformat(e["dt"]) - date.fromisoformat(e["ts"][:10])).days for e in events]
    assert set(delay) <= {0, 1, 2, 3}
    assert 0.005 < np.mean(np.array(delay) > 0) < 0.05


def test_taste_shows_in_held_out_events():
    """Each user's genres of their first 80% of events predict their last 20% far better than the catalogue's
    (given enough movies per genre: in a tiny catalogue users soon run out of their genres' movies)."""
    data = generate(SyntheticConfig(users=400, movies=800, events_per_user=30, days=60), 3)
    genres = {m["id"]: {g["name"] for g in m["genres"]} for m in data.movies}
    by_user: dict[int, list] = {}
    for e in sorted(data.events.to_pylist(), key=lambda e: e["ts"]):
        by_user.setdefault(e["user_id"], []).append(genres[e["movie_id"]])
    own = overall = total = 0
    catalogue = {name for name, _ in sorted(_genre_counts([g for gs in by_user.values() for g in gs]).items(),
                                            key=lambda kv: -kv[1])[:3]}
    for history in by_user.values():
        cut = int(0.8 * len(history))
        top = {name for name, _ in sorted(_genre_counts(history[:cut]).items(), key=lambda kv: -kv[1])[:3]}
        own += sum(bool(g & top) for g in history[cut:])
        overall += sum(bool(g & catalogue) for g in history[cut:])
        total += len(history) - cut
    assert own / total > 0.45 and own > 1.3 * overall, (own / total, overall / total)


def _genre_counts(history: list[set[str]]) -> dict[str, float]:
    counts: dict[str, float] = {}
    for names in history:
        for name in names:
            counts[name] = counts.get(name, 0) + 1 / len(names)
    return counts


def test_popularity_is_long_tailed():
    data = generate(SyntheticConfig(users=300, movies=150, events_per_user=20, days=100), 1)
    counts = sorted(np.bincount(data.events["movie_id"].to_numpy() - 1000, minlength=150), reverse=True)
    assert sum(counts[:15]) > 2 * sum(counts) / 10


def test_draws_follow_taste_times_popularity_over_released_movies():
    """The rejection sampler's draws match p ∝ exp(12·affinity + 0.4·log popularity) over released movies."""
    cfg = SyntheticConfig(users=10, movies=60, events_per_user=5, days=100, late_movie_share=0.2)
    movies, rng = catalog(cfg, 5), np.random.default_rng(0)
    mix = np.zeros((cfg.movies, len(GENRES)))
    for slot in range(3):
        np.add.at(mix, (np.arange(cfg.movies), movies.genres[:, slot]), movies.weights[:, slot])
    day = float(np.sort(movies.release_day)[-3]) + 0.5  # the two latest releases are not out yet
    for concentration in (0.2, 1.0):
        taste = rng.dirichlet(np.full(len(GENRES), concentration))
        logits = synthetic.TASTE * mix @ taste + synthetic.POPULARITY * np.log(movies.popularity)
        logits[movies.release_day > day] = -np.inf
        expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        n = 100_000
        drawn = draw_movies(rng, movies, sampler(movies), np.tile(taste, (n, 1)).astype(np.float32), np.full(n, day))
        share = np.bincount(drawn, minlength=cfg.movies) / n
        assert share[movies.release_day > day].sum() == 0
        assert 0.5 * np.abs(share - expected).sum() < 0.02, "total variation distance"


def test_blocks_and_parts_change_only_the_layout(tmp_path, monkeypatch):
    """Users come in blocks, each from its own stream, and parts of several blocks: the files hold exactly
    what `generate` returns, whatever the part size."""
    monkeypatch.setattr(synthetic, "BLOCK_USERS", 40)
    monkeypatch.setattr(synthetic, "FILE_USERS", 120)
    data = generate(TINY, 7)
    write_synthetic(TINY, 7, tmp_path)
    rows = logged(tmp_path)
    assert {r["part"] for r in rows} == {"part-00000.parquet", "part-00001.parquet", "part-00002.parquet"}
    strip = [{k: v for k, v in r.items() if k not in ("dt", "part")} | {"arrival": date.fromisoformat(r["dt"])} for r in rows]
    key = lambda r: r["event_id"]  # noqa: E731
    assert sorted(strip, key=key) == sorted(data.events.to_pylist(), key=key)
    assert (tmp_path / "users.jsonl").read_text().count("\n") == TINY.users == data.users.num_rows
