"""MovieLens folders (ml-latest-small CSVs or the `::` files of ml-1m) and TMDB 5000 CSVs.

Ratings stay where they are: the ingest step reads them with Spark. Movies and users are
small, so they are turned here into TMDB-shaped JSON documents (the same shape the
synthetic source and the TMDB API produce), joined to TMDB metadata through `links.csv`
where present and falling back to MovieLens titles and genres where not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from jobs.errors import PipelineError

RATINGS_CSV_HEADER = "userId,movieId,rating,timestamp"
_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_ML1M_AGES = {1: 16, 18: 21, 25: 30, 35: 40, 45: 47, 50: 53, 56: 60}


class SourceError(PipelineError):
    """The input folder or file cannot be read; the message names the file and the fix."""


@dataclass(frozen=True)
class RatingsFile:
    path: Path
    layout: str  # "csv" (ml-latest-small) or "dat" (ml-1m "::" lines)


def find_ratings(data_dir: Path) -> RatingsFile:
    """Locate the ratings file of a MovieLens folder and check its header."""
    if not data_dir.is_dir():
        raise SourceError(f"MovieLens folder {data_dir} does not exist")
    for name, layout in (("ratings.csv", "csv"), ("ratings.csv.gz", "csv"),
                         ("ratings.dat", "dat"), ("ratings.dat.gz", "dat")):
        path = data_dir / name
        if path.exists():
            ratings = RatingsFile(path=path, layout=layout)
            _check_first_line(ratings)
            return ratings
    raise SourceError(f"{data_dir} holds no ratings.csv or ratings.dat[.gz]: not a MovieLens folder")


def _open_text(path: Path, encoding: str = "utf-8"):
    if path.suffix == ".gz":
        import gzip

        return gzip.open(path, "rt", encoding=encoding, errors="replace")
    return path.open(encoding=encoding, errors="replace")


def _check_first_line(ratings: RatingsFile) -> None:
    with _open_text(ratings.path) as fh:
        first = fh.readline().strip()
    if not first:
        raise SourceError(f"{ratings.path} is empty")
    if ratings.layout == "csv" and first != RATINGS_CSV_HEADER:
        raise SourceError(
            f"{ratings.path} line 1: header '{first[:80]}' is not '{RATINGS_CSV_HEADER}'"
        )
    if ratings.layout == "dat" and len(first.split("::")) != 4:
        raise SourceError(f"{ratings.path} line 1: expected UserID::MovieID::Rating::Timestamp, got '{first[:80]}'")


def _split_title(title: str) -> tuple[str, int | None]:
    match = _YEAR.search(title)
    if not match:
        return title.strip(), None
    return title[: match.start()].strip(), int(match.group(1))


def _read_movielens_movies(data_dir: Path) -> pd.DataFrame:
    if (data_dir / "movies.csv").exists():
        movies = pd.read_csv(data_dir / "movies.csv", dtype={"movieId": "int64"})
    elif (data_dir / "movies.dat").exists():
        movies = pd.read_csv(data_dir / "movies.dat", sep="::", engine="python", header=None,
                             names=["movieId", "title", "genres"], encoding="ISO-8859-1")
    else:
        raise SourceError(f"{data_dir} holds no movies.csv or movies.dat")
    links_path = data_dir / "links.csv"
    if links_path.exists():
        links = pd.read_csv(links_path, dtype={"movieId": "int64", "tmdbId": "Int64"})
        movies = movies.merge(links[["movieId", "tmdbId"]], on="movieId", how="left")
    else:
        movies["tmdbId"] = pd.array([pd.NA] * len(movies), dtype="Int64")
    return movies


def read_tmdb_5000(tmdb_dir: Path) -> dict[int, dict]:
    """TMDB 5000 movies + credits as TMDB-API-shaped documents keyed by TMDB id."""
    movies_path = tmdb_dir / "tmdb_5000_movies.csv"
    if not movies_path.exists():
        raise SourceError(f"{tmdb_dir} holds no tmdb_5000_movies.csv")
    movies = pd.read_csv(movies_path)
    credits_path = next((p for p in (tmdb_dir / "tmdb_5000_credits.csv", tmdb_dir / "tmdb_5000_credits.csv.gz") if p.exists()), None)
    credits = pd.read_csv(credits_path).set_index("movie_id") if credits_path else pd.DataFrame()
    docs: dict[int, dict] = {}
    for row in movies.itertuples(index=False):
        doc = {
            "id": int(row.id),
            "title": row.title,
            "overview": row.overview if isinstance(row.overview, str) else "",
            "release_date": row.release_date if isinstance(row.release_date, str) else None,
            "genres": json.loads(row.genres),
            "keywords": {"keywords": json.loads(row.keywords)},
            "runtime": None if pd.isna(row.runtime) else float(row.runtime),
            "vote_average": float(row.vote_average),
            "vote_count": int(row.vote_count),
            "popularity": float(row.popularity),
            "adult": False,
        }
        if row.id in credits.index:
            credit = credits.loc[row.id]
            doc["credits"] = {"cast": json.loads(credit["cast"])[:10],
                              "crew": [c for c in json.loads(credit["crew"]) if c.get("job") == "Director"]}
        docs[int(row.id)] = doc
    return docs


def movie_documents(data_dir: Path, tmdb_dir: Path | None) -> list[dict]:
    """One TMDB-shaped document per MovieLens movie; `movie_id` is the MovieLens id.

    TMDB fields win where the movie joins through links.csv; the MovieLens title, year and
    genres fill in where it does not.
    """
    movies = _read_movielens_movies(data_dir)
    tmdb = read_tmdb_5000(tmdb_dir) if tmdb_dir else {}
    docs = []
    for row in movies.itertuples(index=False):
        title, year = _split_title(str(row.title))
        genres = [] if row.genres == "(no genres listed)" else str(row.genres).split("|")
        base = {
            "movie_id": int(row.movieId),
            "title": title,
            "year": year,
            "genres": [{"name": g} for g in genres],
        }
        tmdb_id = None if pd.isna(row.tmdbId) else int(row.tmdbId)
        doc = {**base, **tmdb[tmdb_id], "movie_id": int(row.movieId)} if tmdb_id in tmdb else base
        doc["id"] = tmdb_id
        if not doc.get("year"):
            doc["year"] = year
        docs.append(doc)
    return docs


def user_documents(data_dir: Path) -> list[dict]:
    """ml-1m users.dat as user documents; other folders have no user file (empty list)."""
    path = data_dir / "users.dat"
    if not path.exists():
        return []
    users = pd.read_csv(path, sep="::", engine="python", header=None,
                        names=["user_id", "gender", "age", "occupation", "zip"])
    return [
        {"user_id": int(u.user_id), "gender": u.gender, "age": _ML1M_AGES.get(int(u.age)),
         "occupation": str(u.occupation)}
        for u in users.itertuples(index=False)
    ]
