"""The API over a real published Feast SQLite store."""

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.store import OnlineLists, open_store
from serving.variants import assign
from tests.conftest import tiny_config
from tests.serving.conftest import FlakyLists

pytestmark = pytest.mark.spark

ITEM_FIELDS = {"rank", "movie_id", "title", "year", "genres", "poster_path", "poster_url", "score", "reason", "slot"}


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "version": "tiny-run", "experiment": "rerank-strategy",
                            "variants": ["control", "slots"]}


def test_known_user_gets_the_assigned_variants_list(client):
    body = client.get("/v1/users/5/recommendations").json()
    assert body["fallback"] is False and body["degraded"] is False and body["version"] == "tiny-run"
    assert body["variant"] == assign("rerank-strategy", 5, ["control", "slots"], [0.5, 0.5])
    assert body["context"] == "home"
    assert len(body["items"]) == 20, "default k"
    item = body["items"][0]
    assert set(item) == ITEM_FIELDS
    assert item["title"] and item["reason"] and item["genres"] and item["slot"] in {"similar", "diverse", "trending"}
    assert item["poster_url"].endswith(item["poster_path"]) and item["poster_url"].startswith("https://image.tmdb.org/")
    assert [i["rank"] for i in body["items"]] == list(range(1, 21))


def test_a_variant_can_be_asked_for_and_the_lists_differ(client):
    control = client.get("/v1/users/5/recommendations", params={"variant": "control", "k": 30}).json()
    slots = client.get("/v1/users/5/recommendations", params={"variant": "slots", "k": 30}).json()
    assert (control["variant"], slots["variant"]) == ("control", "slots")
    assert [i["movie_id"] for i in control["items"]] != [i["movie_id"] for i in slots["items"]]
    scores = [i["score"] for i in control["items"]]
    assert scores == sorted(scores, reverse=True), "MMR values fall with rank"


def test_unknown_variant_is_a_422_naming_the_known_ones(client):
    response = client.get("/v1/users/5/recommendations", params={"variant": "nope"})
    assert response.status_code == 422
    assert "'control' or 'slots'" in response.json()["detail"][0]["msg"]


def test_unknown_user_gets_the_fallback_flagged(client):
    body = client.get("/v1/users/987654321/recommendations", params={"k": 5}).json()
    assert body["fallback"] is True and body["degraded"] is False
    assert len(body["items"]) == 5
    assert all(i["reason"].startswith(("Popular", "Trending")) for i in body["items"]), "no history, no personal reason"


@pytest.mark.parametrize("k", [0, -1, 51, "ten", 1.5])
def test_k_out_of_bounds_is_a_422(client, k):
    assert client.get("/v1/users/5/recommendations", params={"k": k}).status_code == 422


@pytest.mark.parametrize("user", ["abc", "-1", str(2**64)])
def test_bad_user_ids_are_a_422(client, user):
    assert client.get(f"/v1/users/{user}/recommendations").status_code == 422


def test_context_is_validated_and_counted(client):
    assert client.get("/v1/users/5/recommendations", params={"context": "billboard"}).status_code == 422
    body = client.get("/v1/users/5/recommendations", params={"context": "email"}).json()
    assert body["context"] == "email"
    assert f'movierec_variant_responses_total{{context="email",variant="{body["variant"]}"}}' in client.get("/metrics").text


def test_movie_card_and_similar_movies(client, published):
    cfg, _ = published
    first = client.get("/v1/users/5/recommendations", params={"k": 1}).json()["items"][0]
    card = client.get(f"/v1/movies/{first['movie_id']}").json()
    assert card["title"] == first["title"] and card["genres"] == first["genres"] and card["year"] == first["year"]
    assert card["overview"] and card["version"] == "tiny-run"
    similar = client.get(f"/v1/movies/{first['movie_id']}/similar", params={"k": 5}).json()
    assert len(similar["items"]) == 5
    assert first["movie_id"] not in {i["movie_id"] for i in similar["items"]}
    assert all(i["title"] for i in similar["items"])
    assert client.get(f"/v1/movies/{first['movie_id']}/similar", params={"k": cfg.serving.similar_k + 1}).status_code == 422


def test_unknown_movie_is_a_404(client):
    for path in ("/v1/movies/424242424", "/v1/movies/424242424/similar"):
        response = client.get(path)
        assert response.status_code == 404
        assert "not in the published catalog" in response.json()["detail"]


def test_metrics_count_requests_latency_and_fallbacks(client):
    client.get("/v1/users/987654321/recommendations")
    text = client.get("/metrics").text
    assert 'movierec_requests_total{route="/v1/users/{user_id}/recommendations",status="200"}' in text
    assert 'movierec_request_seconds_bucket{le="0.01",route="/v1/users/{user_id}/recommendations"}' in text
    assert 'movierec_fallbacks_total{cause="unknown_user"}' in text
    assert "/v1/users/987654321" not in text, "labels are route templates, not raw paths"


def test_openapi_documents_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/users/{user_id}/recommendations", "/v1/movies/{movie_id}/similar", "/v1/movies/{movie_id}",
            "/health", "/ready", "/metrics"} <= set(paths)


def test_api_key_is_required_when_configured(published):
    cfg, _ = published
    locked = cfg.model_copy(update={"serving": cfg.serving.model_copy(update={"api_key": "s3cret"})})
    with TestClient(create_app(locked)) as client:
        assert client.get("/v1/users/5/recommendations").status_code == 401
        assert client.get("/v1/users/5/recommendations", headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get("/v1/movies/1001", headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get("/v1/users/5/recommendations", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200


def test_cors_allows_only_the_configured_origins(published):
    cfg, _ = published
    open_to = cfg.model_copy(update={"serving": cfg.serving.model_copy(update={"cors_origins": ["http://localhost:3000"]})})
    with TestClient(create_app(open_to)) as client:
        allowed = client.get("/v1/users/5/recommendations", headers={"Origin": "http://localhost:3000"})
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
        other = client.get("/v1/users/5/recommendations", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = client.options("/v1/users/5/recommendations", headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-API-Key"})
        assert preflight.status_code == 200


@pytest.mark.parametrize("mode", ["down", "hanging"])
def test_a_failing_store_is_answered_from_the_fallback_cache(published, mode):
    cfg, _ = published
    lists = FlakyLists(OnlineLists(open_store(cfg)))
    with TestClient(create_app(cfg, lists=lists)) as client:
        personal = client.get("/v1/users/5/recommendations", params={"k": 5}).json()
        assert personal["fallback"] is False
        lists.mode = mode
        body = client.get("/v1/users/5/recommendations", params={"k": 5})
        assert body.status_code == 200
        body = body.json()
        assert body["fallback"] is True and body["degraded"] is True
        assert body["variant"] == personal["variant"] and len(body["items"]) == 5
        assert client.get("/v1/movies/1001").status_code == 503
        metrics = client.get("/metrics").text
        assert 'movierec_fallbacks_total{cause="store_unavailable"}' in metrics
        assert f'movierec_store_errors_total{{kind="{"error" if mode == "down" else "timeout"}"}}' in metrics
        assert client.get("/ready").status_code == 503
        lists.mode = "ok"
        assert client.get("/ready").status_code == 200
        assert client.get("/v1/users/5/recommendations").json()["fallback"] is False


def test_store_down_from_the_start_is_a_503_not_a_500(published):
    cfg, _ = published
    lists = FlakyLists(OnlineLists(open_store(cfg)))
    lists.mode = "down"
    with TestClient(create_app(cfg, lists=lists)) as client:
        response = client.get("/v1/users/5/recommendations")
        assert response.status_code == 503
        assert "unreachable" in response.json()["detail"]
        assert client.get("/ready").status_code == 503
        assert client.get("/health").status_code == 200


def test_nothing_published_is_a_503(tmp_path):
    with TestClient(create_app(tiny_config(tmp_path))) as client:
        response = client.get("/v1/users/1/recommendations")
        assert response.status_code == 503
        assert "no recommendation lists" in response.json()["detail"]
        assert client.get("/ready").json() == {"detail": "nothing published yet"}
