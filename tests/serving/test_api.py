"""The API over a real published Feast SQLite store."""

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def client(published):
    cfg, _ = published
    return TestClient(create_app(cfg))


def test_health(client):
    assert client.get("/health").json() == {"status": "ok"}


def test_known_user_gets_the_personal_list(client):
    body = client.get("/v1/users/5/recommendations", params={"k": 10}).json()
    assert body["fallback"] is False and body["version"] == "tiny-run"
    assert len(body["items"]) == 10
    item = body["items"][0]
    assert set(item) == {"rank", "movie_id", "title", "year", "score", "reason"}
    assert item["title"] and item["reason"]
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_unknown_user_gets_the_popularity_fallback(client):
    body = client.get("/v1/users/987654321/recommendations", params={"k": 5}).json()
    assert body["fallback"] is True
    assert len(body["items"]) == 5
    assert all(i["reason"].startswith(("Popular", "Trending")) for i in body["items"]), "no history, no personal reason"


@pytest.mark.parametrize("k", [0, -1, 51, "ten"])
def test_k_out_of_bounds_is_a_422(client, k):
    assert client.get("/v1/users/5/recommendations", params={"k": k}).status_code == 422


def test_non_numeric_user_is_a_422(client):
    assert client.get("/v1/users/abc/recommendations").status_code == 422


def test_nothing_published_is_a_503(tmp_path):
    from tests.conftest import tiny_config

    client = TestClient(create_app(tiny_config(tmp_path)))
    response = client.get("/v1/users/1/recommendations")
    assert response.status_code == 503
    assert "no recommendation lists" in response.json()["detail"]
