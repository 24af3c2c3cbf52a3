"""The API's list items encoded once, at publish time: a request slices `k` of them and adds its envelope.

Each item is the JSON object `serving.app.RecommendedItem` (or `Item`, for similar movies) would encode to,
keys in the models' order, so the response is byte for byte what the models would have produced (tested).
"""

from __future__ import annotations

import json
import math

import pandas as pd

GENRE_SEPARATOR = "|"
# What a list is published from, one array per item field (jobs/publish.py stages them, aligned by rank).
ITEM_COLUMNS = ["movie_ids", "scores", "titles", "years", "genres", "poster_paths"]
_COMPACT = {"separators": (",", ":"), "ensure_ascii": False}


def poster(base: str, path: str | None) -> tuple[str | None, str | None]:
    """(poster_path, poster_url) as served: both null when the movie has no poster."""
    return (path, f"{base.rstrip('/')}/{path.lstrip('/')}") if path else (None, None)


def encode_items(frame: pd.DataFrame, poster_base: str, with_reasons: bool) -> list[list[str]]:
    """Per row of `frame` (the array columns ITEM_COLUMNS, and reasons and slots `with_reasons`), its items as
    JSON objects in rank order."""
    movies: dict[int, str] = {}    # a movie's card fields recur across the lists of a chunk: encoded once
    strings: dict[str, str] = {}   # so do reasons ("Because you watched ...") and slots

    def card(movie: int, title: str, year: int, genres: str, path: str) -> str:
        encoded = movies.get(movie)
        if encoded is None:
            poster_path, poster_url = poster(poster_base, path)
            encoded = movies[movie] = json.dumps({
                "movie_id": movie, "title": title, "year": year or None,
                "genres": [g for g in genres.split(GENRE_SEPARATOR) if g],
                "poster_path": poster_path, "poster_url": poster_url}, **_COMPACT)[1:-1]
        return encoded

    def string(value: str) -> str:
        encoded = strings.get(value)
        if encoded is None:
            encoded = strings[value] = json.dumps(value, ensure_ascii=False)
        return encoded

    columns = [frame[c] for c in ITEM_COLUMNS]
    if with_reasons:
        columns += [frame["reasons"], frame["slots"]]
    out = []
    for row in zip(*columns):
        items = []
        for rank, fields in enumerate(zip(*row), start=1):
            movie, score, title, year, genres, path = fields[:6]
            score = float(score)
            encoded_score = repr(score) if math.isfinite(score) else "null"  # as pydantic encodes a non-finite float
            item = f'{{"rank":{rank},{card(int(movie), title, int(year), genres, path)},"score":{encoded_score}'
            if with_reasons:
                item += f',"reason":{string(fields[6])},"slot":{string(fields[7] or "similar")}'
            items.append(item + "}")
        out.append(items)
    return out


def envelope(fields: dict, items: list[str], k: int) -> bytes:
    """The response body: `fields` then the first `k` items under "items", compact like FastAPI's encoder."""
    head = json.dumps(fields, **_COMPACT)
    return f'{head[:-1]},"items":[{",".join(items[:k])}]}}'.encode()


def interleave(lists: list[tuple[list[int], list[str]]], k: int) -> tuple[list[int], list[str]]:
    """The first `k` distinct movies of `lists` ((movie ids, encoded items) each) taken in turn, ranks renumbered:
    an onboarding list from the lists of the genres a new user picked."""
    ids: list[int] = []
    items: list[str] = []
    seen: set[int] = set()
    for position in range(max((len(m) for m, _ in lists), default=0)):
        for movie_ids, encoded in lists:
            if position < len(movie_ids) and movie_ids[position] not in seen and len(ids) < k:
                seen.add(movie_ids[position])
                ids.append(movie_ids[position])
                # Items start '{"rank":N,': only the rank changes.
                item = encoded[position]
                items.append(f'{{"rank":{len(ids)},{item[item.index(",") + 1:]}')
    return ids, items
