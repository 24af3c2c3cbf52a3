"""Items encoded at publish time are byte for byte what the response models would encode per request."""

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from serving.app import Item, RecommendedItem, Recommendations, SimilarMovies
from serving.store import OnlineLists, StaleListFormat
from serving.responses import Assembler, Items, encode_cards, encode_items, envelope, interleave, poster, reason_codes

BASE = "https://image.tmdb.org/t/p/w185/"


def _lists() -> pd.DataFrame:
    return pd.DataFrame({
        "movie_ids": [np.array([7, 9, 7]), np.array([9])],
        "scores": [np.array([0.9, 0.3, -0.1], dtype=np.float32), np.array([np.float32(1e-8)])],
        "titles": [np.array(['"Quoted" \\ Amélie', "Nine", '"Quoted" \\ Amélie'], dtype=object), np.array(["Nine"], dtype=object)],
        "years": [np.array([2001, 0, 2001]), np.array([0])],
        "genres": [np.array(["Comedy|Romance", "", "Comedy|Romance"], dtype=object), np.array([""], dtype=object)],
        "poster_paths": [np.array(["/a.jpg", "", "/a.jpg"], dtype=object), np.array([""], dtype=object)],
        "reasons": [np.array(["Because you watched Heat", "Popular with everyone", "日本の映画"], dtype=object),
                    np.array(["Trending"], dtype=object)],
        "slots": [np.array(["similar", "", "trending"], dtype=object), np.array(["diverse"], dtype=object)],
    })


def _model_items(row: pd.Series, model) -> list:
    out = []
    for i, movie in enumerate(row.movie_ids):
        path, url = poster(BASE, row.poster_paths[i])
        fields = dict(rank=i + 1, movie_id=int(movie), title=row.titles[i], year=int(row.years[i]) or None,
                      genres=[g for g in row.genres[i].split("|") if g], poster_path=path, poster_url=url,
                      score=float(row.scores[i]))
        if model is RecommendedItem:
            fields.update(reason=row.reasons[i], slot=row.slots[i] or "similar")
        out.append(model(**fields))
    return out


def _fastapi_body(model) -> bytes:
    """What FastAPI sends for a response_model: jsonable_encoder, then JSONResponse's renderer."""
    return JSONResponse(jsonable_encoder(model)).body


def _user_items(lists: pd.DataFrame) -> list[list[str]]:
    """User lists as the reader serves them: tails joined to the catalogue of card fields."""
    rows = lists.explode(["movie_ids", "titles", "years", "genres", "poster_paths"]).drop_duplicates("movie_ids")
    cards = dict(zip(rows["movie_ids"], encode_cards(rows["movie_ids"], rows["titles"], rows["years"], rows["genres"],
                                                     rows["poster_paths"], BASE)))
    reasons, reason_ids = reason_codes(lists["reasons"])
    assembler = Assembler()
    return [assembler.items(list(ids), list(scores), texts, codes, list(slots), cards)
            for ids, scores, texts, codes, slots in zip(lists["movie_ids"], lists["scores"], reasons, reason_ids,
                                                        lists["slots"])]


def test_encoded_items_equal_the_models_encoding():
    lists = _lists()
    for model, encoded in ((RecommendedItem, _user_items(lists)), (Item, encode_items(lists, BASE))):
        for (_, row), items in zip(lists.iterrows(), encoded):
            assert [item.encode() for item in items] == [_fastapi_body(m) for m in _model_items(row, model)]


def test_a_movie_missing_from_the_catalogue_is_served_without_its_card():
    [item] = Assembler().items([42], [np.float32(1e-8)], ["Trending"], [0], ["diverse"], {})
    assert json.loads(item) == {"rank": 1, "movie_id": 42, "title": "", "year": None, "genres": [], "poster_path": None,
                                "poster_url": None, "score": float(np.float32(1e-8)), "reason": "Trending",
                                "slot": "diverse"}


def test_items_are_put_together_as_they_are_read_and_once():
    built = []
    items = Items(50, lambda i: built.append(i) or f'{{"rank":{i + 1}}}')
    assert items[:2] == ['{"rank":1}', '{"rank":2}'] and items[-1] == '{"rank":50}' and built == [0, 1, 49]
    assert items[0] == '{"rank":1}' and built == [0, 1, 49], "kept, not built again"
    assert len(items) == 50 and len(list(items)) == 50 and items == [f'{{"rank":{i}}}' for i in range(1, 51)]


def test_a_lists_reasons_are_stored_once_each_and_indexed():
    reasons, codes = reason_codes(pd.Series([["Heat", "Up", "Heat"], []]))
    assert (reasons, codes) == ([["Heat", "Up"], []], [[0, 1, 0], []])


def test_an_envelope_slices_k_items_and_equals_the_response_model():
    row = _lists().iloc[0]
    items = _user_items(_lists())[0]
    fields = {"user_id": 5, "version": "v1", "generated_at": "2026-11-27T00:00:00+00:00", "experiment": "e",
              "variant": "control", "context": "home", "fallback": False, "degraded": True, "segment": "gender=F|age=25-34"}
    body = envelope(fields, items, k=2)
    assert body == _fastapi_body(Recommendations(**fields, items=_model_items(row, RecommendedItem)[:2]))
    assert len(json.loads(body)["items"]) == 2 and len(json.loads(envelope(fields, items, k=50))["items"]) == 3
    similar = envelope({"movie_id": 7, "version": "v1"}, encode_items(_lists(), BASE)[1], k=20)
    assert similar == _fastapi_body(SimilarMovies(movie_id=7, version="v1", items=_model_items(_lists().iloc[1], Item)))


def test_interleave_takes_the_lists_in_turn_without_repeats_and_renumbers_the_ranks():
    a = (["1", "2", "3"], ['{"rank":1,"movie_id":1}', '{"rank":2,"movie_id":2}', '{"rank":3,"movie_id":3}'])
    b = (["2", "4"], ['{"rank":1,"movie_id":2}', '{"rank":2,"movie_id":4}'])
    ids, items = interleave([a, b], k=4)
    assert ids == ["1", "2", "4", "3"]     # in turn: a 1, b 2, (a 2 again: skipped), b 4, a 3
    assert [json.loads(i) for i in items] == [{"rank": r, "movie_id": int(m)} for r, m in enumerate(ids, start=1)]
    assert interleave([a, b], k=2)[0] == ["1", "2"] and interleave([], k=3) == ([], [])


def test_a_user_list_stored_before_lists_were_arrays_says_so():
    lists = OnlineLists.__new__(OnlineLists)   # no store: only how a row read back is turned into a list
    lists._assembler = Assembler()
    old = {"movie_ids": [7], "scores": None, "reasons": None, "reason_ids": None, "slots": None,
           "generated_at": "t", "segment": ""}
    with pytest.raises(StaleListFormat, match="publish a new version"):
        lists._user_list(old, {})
    pointer = {**old, "movie_ids": [], "segment": "gender=F"}   # a segment pointer row has no items either way
    assert lists._user_list(pointer, {}).segment == "gender=F"
