"""The recommendations route's fast path: it answers only plainly valid requests, and answers them as FastAPI would."""

import pytest

from serving.fast_path import RecommendationsFastPath, Request, Rules, parse

RULES = Rules(max_id=2**63 - 1, max_k=50, default_k=20, contexts=frozenset({"home", "detail"}), default_context="home",
              variants=frozenset({"control", "slots"}), api_key=None)
PATH = "/v1/users/{}/recommendations"


@pytest.mark.parametrize("path, query, expected", [
    (PATH.format(5), b"", Request(5, 20, "home", None)),
    (PATH.format(0), b"k=50&context=detail&variant=slots", Request(0, 50, "detail", "slots")),
    (PATH.format(2**63 - 1), b"k=1&unrelated=x", Request(2**63 - 1, 1, "home", None)),   # FastAPI ignores unknown names
])
def test_plain_requests_are_parsed(path, query, expected):
    assert parse(path, query, None, RULES) == expected


@pytest.mark.parametrize("path, query", [
    (PATH.format(2**63), b""),              # past the largest id: FastAPI's 422
    (PATH.format("007"), b""), (PATH.format("-1"), b""), (PATH.format("x"), b""), (PATH.format(5) + "/", b""),
    (PATH.format(5), b"k=0"), (PATH.format(5), b"k=51"), (PATH.format(5), b"k=1.5"), (PATH.format(5), b"k="),
    (PATH.format(5), b"k=020"), (PATH.format(5), b"k=%32%30"), (PATH.format(5), b"context=nowhere"),
    (PATH.format(5), b"variant=nope"), (PATH.format(5), b"k=5&k=6"), (PATH.format(5), b"genres=Comedy"),
    (PATH.format(5), b"age=30"), (PATH.format(5), b"k"), (PATH.format(5), b"k=5&"), (PATH.format(5), b"context=home+x"),
    ("/v1/movies/5/similar", b""),
])
def test_everything_else_is_left_to_fastapi(path, query):
    assert parse(path, query, None, RULES) is None


def test_an_api_key_is_checked_before_anything_is_answered():
    keyed = Rules(**{**RULES.__dict__, "api_key": "s3cret"})
    assert parse(PATH.format(5), b"", b"s3cret", keyed) == Request(5, 20, "home", None)
    assert parse(PATH.format(5), b"", b"wrong", keyed) is None
    assert parse(PATH.format(5), b"", None, keyed) is None


@pytest.mark.spark
def test_the_fast_path_answers_as_the_fastapi_route_does(client):
    assert any(m.cls is RecommendationsFastPath for m in client.app.user_middleware)
    for user, query in [(5, "k=7&variant=slots"), (987654321, "k=5"), (6, "context=detail")]:
        fast = client.get(f"/v1/users/{user}/recommendations?{query}")
        # A percent-encoded "=" in a value the route ignores leaves the request to FastAPI, with the same parameters.
        routed = client.get(f"/v1/users/{user}/recommendations?{query}&ignored=%3D")
        assert fast.status_code == routed.status_code == 200
        assert fast.content == routed.content
        assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
        assert fast.headers["content-length"] == routed.headers["content-length"]
    metrics = client.get("/metrics").text
    assert 'movierec_requests_total{route="/v1/users/{user_id}/recommendations",status="200"}' in metrics, \
        "the fast path's requests are labelled by the route template, like FastAPI's"
    assert "unmatched" not in metrics
