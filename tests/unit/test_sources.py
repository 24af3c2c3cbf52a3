import pytest

from jobs.sources.movielens import SourceError, find_ratings, movie_documents
from jobs.sources.synthetic import generate
from conf.settings import SyntheticConfig


def test_synthetic_is_deterministic_and_has_cold_starts():
    cfg = SyntheticConfig(users=120, movies=60, events_per_user=20, days=100)
    a, b = generate(cfg, 7), generate(cfg, 7)
    assert a.events == b.events
    assert len({e["event_id"] for e in a.events}) == len(a.events)
    release = {m["id"]: m["release_date"] for m in a.movies}
    assert all(e["ts"][:10] >= release[e["movie_id"]] for e in a.events), "no event before its movie's release"
    first_day = min(e["ts"] for e in a.events)
    late_users = [u for u in a.users if u["signup_ts"] > "2026-03-27"]
    assert late_users, "some users sign up late in the window"
    assert any(m["release_date"] > first_day[:10] for m in a.movies), "some movies are released inside the window"


def test_synthetic_popularity_is_long_tailed():
    data = generate(SyntheticConfig(users=300, movies=150, events_per_user=20, days=100), 1)
    counts = sorted((sum(1 for e in data.events if e["movie_id"] == m["id"]) for m in data.movies), reverse=True)
    top_tenth = sum(counts[: len(counts) // 10])
    assert top_tenth > 2 * sum(counts) / 10


def test_bad_ratings_header_is_a_clear_error(tmp_path):
    (tmp_path / "ratings.csv").write_text("user,movie,stars,when\n1,2,3,4\n")
    with pytest.raises(SourceError, match="ratings.csv line 1: header 'user,movie,stars,when'"):
        find_ratings(tmp_path)


def test_folder_without_ratings_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="not a MovieLens folder"):
        find_ratings(tmp_path)


def test_movielens_titles_and_years_without_tmdb(tmp_path):
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n2,"American President, The (1995)",(no genres listed)\n')
    docs = movie_documents(tmp_path, None)
    assert docs[0]["title"] == "Toy Story" and docs[0]["year"] == 1995
    assert [g["name"] for g in docs[0]["genres"]] == ["Animation", "Comedy"]
    assert docs[1]["genres"] == []
