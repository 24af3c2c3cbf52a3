"""The API's list items encoded once, at publish time: a request slices `k` of them and adds its envelope.

A similar-movies list is stored as its items. A user list is stored as its movie ids and each item's tail (score,
reason, slot); the reader puts each item together from its rank, its movie's card fields (the version's
catalogue, one row, read once) and its tail. Each item is the JSON object `serving.app.RecommendedItem` (or `Item`, for similar movies) would encode to,
keys in the models' order, so the response is byte for byte what the models would have produced (tested).
"""

from __future__ import annotations

import json
import math

import pandas as pd

GENRE_SEPARATOR = "|"
# What a list is published from, one array per item field (jobs/publish.py stages them, aligned by rank).
ITEM_COLUMNS = ["movie_ids", "scores", "titles", "years", "genres", "poster_paths"]
# What a user list is published from: its items' own fields; their cards come from the version's catalogue.
TAIL_COLUMNS = ["movie_ids", "scores", "reasons", "slots"]
_COMPACT = {"separators": (",", ":"), "ensure_ascii": False}


def poster(base: str, path: str | None) -> tuple[str | None, str | None]:
    """(poster_path, poster_url) as served: both null when the movie has no poster."""
    return (path, f"{base.rstrip('/')}/{path.lstrip('/')}") if path else (None, None)


def encode_cards(movie_ids, titles, years, genres, poster_paths, poster_base: str) -> list[str]:
    """Each movie's card fields as they sit inside an item ("movie_id" to "poster_url", no braces): a user list's
    item is its rank, this and its own tail (`assemble`)."""
    out = []
    for movie, title, year, names, path in zip(movie_ids, titles, years, genres, poster_paths):
        poster_path, poster_url = poster(poster_base, path)
        out.append(json.dumps({
            "movie_id": int(movie), "title": title, "year": int(year) or None,
            "genres": [g for g in names.split(GENRE_SEPARATOR) if g],
            "poster_path": poster_path, "poster_url": poster_url}, **_COMPACT)[1:-1])
    return out


def _score(value) -> str:
    score = float(value)
    return repr(score) if math.isfinite(score) else "null"  # as pydantic encodes a non-finite float


def encode_tails(frame: pd.DataFrame) -> list[list[str]]:
    """Per row of `frame` (the array columns TAIL_COLUMNS), what each of its items adds to its movie's card:
    score, reason and slot. A user list is stored as these and its movie ids, not its items: the cards are the same
    in every list, and a million users' lists spelt out are most of an online store (README, Scale)."""
    strings: dict[str, str] = {}   # reasons ("Because you watched ...") and slots recur across the lists of a chunk

    def string(value: str) -> str:
        encoded = strings.get(value)
        if encoded is None:
            encoded = strings[value] = json.dumps(value, ensure_ascii=False)
        return encoded

    return [[f'"score":{_score(score)},"reason":{string(reason)},"slot":{string(slot or "similar")}'
             for score, reason, slot in zip(scores, reasons, slots)]
            for scores, reasons, slots in zip(frame["scores"], frame["reasons"], frame["slots"])]


def assemble(movie_ids: list[int], tails: list[str], cards: dict[int, str]) -> list[str]:
    """A user list's items as served, from its stored tails and the version's card fragments."""
    return [f'{{"rank":{rank},{cards[movie] if movie in cards else _missing(movie)},{tail}}}'
            for rank, (movie, tail) in enumerate(zip(movie_ids, tails), start=1)]


def _missing(movie: int) -> str:
    """A movie the catalogue lacks, as a list joined to no card would have shown it."""
    return encode_cards([movie], [""], [0], [""], [""], "")[0]


def encode_items(frame: pd.DataFrame, poster_base: str) -> list[list[str]]:
    """Per row of `frame` (the array columns ITEM_COLUMNS), its items as JSON objects in rank order: similar
    movies' lists, which are stored whole (one per movie, not per user)."""
    cards: dict[int, str] = {}    # a movie's card fields recur across the lists of a chunk: encoded once
    out = []
    for movie_ids, scores, titles, years, genres, paths in zip(*(frame[c] for c in ITEM_COLUMNS)):
        items = []
        for rank, (movie, score, title, year, names, path) in enumerate(
                zip(movie_ids, scores, titles, years, genres, paths), start=1):
            card = cards.get(movie)
            if card is None:
                card = cards[movie] = encode_cards([movie], [title], [year], [names], [path], poster_base)[0]
            items.append(f'{{"rank":{rank},{card},"score":{_score(score)}}}')
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
