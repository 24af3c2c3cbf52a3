"""The API's list items encoded once, at publish time: a request slices `k` of them and adds its envelope.

A similar-movies list is stored as its items. A user list is stored as arrays (movie ids, scores, its distinct
reasons and each item's index into them, slots); the reader puts each item together from its rank, its movie's
card fields (the version's catalogue, one row, read once a version) and its own fields. Each item is the JSON
object `serving.app.RecommendedItem` (or `Item`, for similar movies) would encode to, keys in the models' order, so
the response is byte for byte what the models would have produced (tested).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

import pandas as pd

GENRE_SEPARATOR = "|"
# What a list is published from, one array per item field (jobs/publish.py stages them, aligned by rank).
ITEM_COLUMNS = ["movie_ids", "scores", "titles", "years", "genres", "poster_paths"]
# What a user list is published from, one array per item field: its cards come from the version's catalogue.
LIST_COLUMNS = ["movie_ids", "scores", "reasons", "slots"]
_COMPACT = {"separators": (",", ":"), "ensure_ascii": False}


def poster(base: str, path: str | None) -> tuple[str | None, str | None]:
    """(poster_path, poster_url) as served: both null when the movie has no poster."""
    return (path, f"{base.rstrip('/')}/{path.lstrip('/')}") if path else (None, None)


def encode_cards(movie_ids, titles, years, genres, poster_paths, poster_base: str) -> list[str]:
    """Each movie's card fields as they sit inside an item ("movie_id" to "poster_url", no braces): the version's
    catalogue, which user lists' items join (`Assembler`)."""
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


def reason_codes(reasons: pd.Series) -> tuple[list[list[str]], list[list[int]]]:
    """Per list of `reasons` (one per item), its distinct reasons and each item's index into them: a list's reasons
    repeat ("Because you watched <one of a few titles>"), and spelt out per item they were most of its row."""
    distinct, codes = [], []
    for items in reasons:
        seen: dict[str, int] = {}
        codes.append([seen.setdefault(reason, len(seen)) for reason in items])
        distinct.append(list(seen))
    return distinct, codes


class Assembler:
    """A user list's items as served, from its stored fields and the version's card fields (`cards`): each the JSON
    object `serving.app.RecommendedItem` encodes to. Reasons and slots are encoded once each and kept."""

    MAX_STRINGS = 200_000  # reasons name titles: bounded by the catalogue, but not kept beyond this

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}

    def _string(self, value: str) -> str:
        encoded = self._strings.get(value)
        if encoded is None:
            if len(self._strings) >= self.MAX_STRINGS:
                self._strings.clear()
            encoded = self._strings[value] = json.dumps(value, ensure_ascii=False)
        return encoded

    def items(self, movie_ids: list[int], scores: list[float], reasons: list[str], reason_ids: list[int],
              slots: list[str], cards: dict[int, str]) -> Items:
        string = self._string
        text: dict[int, str] = {}

        def item(position: int) -> str:
            movie, code = movie_ids[position], reason_ids[position]
            reason = text.get(code)
            if reason is None:
                reason = text[code] = string(reasons[code])
            return (f'{{"rank":{position + 1},{cards[movie] if movie in cards else _missing(movie)},'
                    f'"score":{_score(scores[position])},"reason":{reason},"slot":{string(slots[position] or "similar")}}}')
        return Items(len(movie_ids), item)


class Items(Sequence):
    """A list's items, each put together when first read: a request serves `k` of a list's 50 (half the cost of a
    read was assembling items it did not send)."""

    __slots__ = ("_count", "_item", "_built")

    def __init__(self, count: int, item: Callable[[int], str]) -> None:
        self._count = count
        self._item = item
        self._built: dict[int, str] = {}

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        built = self._built.get(index)
        if built is None:
            built = self._built[index] = self._item(index)
        return built

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"Items({list(self)!r})"


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
