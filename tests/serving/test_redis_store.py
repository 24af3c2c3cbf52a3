"""The same publish and API on a real redis-server, selected by configuration alone."""

import asyncio
import time

import pytest
import redis
from fastapi.testclient import TestClient

from jobs.publish import write_version
from serving.app import create_app
from serving.metrics import Metrics
from serving.reader import Reader, StoreUnavailable
from serving.store import FALLBACK, OnlineLists, open_store
from tests.conftest import renamed, tiny_config

pytestmark = pytest.mark.spark


def test_publish_and_serve_through_redis_then_survive_it_going_down(published, staged, redis_server, tmp_path):
    process, port = redis_server
    cfg, _ = published
    version = renamed(staged, "tiny-run")
    redis_cfg = tiny_config(tmp_path, feast={"online_store": "redis", "redis_connection": f"127.0.0.1:{port}"})
    assert write_version(redis_cfg, version)["published"] is True
    assert (tmp_path / "feast" / "online_store.db").exists() is False, "nothing went to SQLite"

    with TestClient(create_app(redis_cfg)) as client:
        assert client.get("/ready").json()["version"] == "tiny-run"
        from_redis = client.get("/v1/users/5/recommendations", params={"variant": "control"}).json()
        with TestClient(create_app(cfg)) as sqlite_client:
            from_sqlite = sqlite_client.get("/v1/users/5/recommendations", params={"variant": "control"}).json()
        assert from_redis["items"] == from_sqlite["items"]
        assert client.get("/v1/movies/1001/similar").status_code == 200

        process.kill()
        process.wait(10)
        down = client.get("/v1/users/5/recommendations", params={"k": 3})
        assert down.status_code == 200
        assert down.json()["degraded"] is True and down.json()["fallback"] is True
        assert client.get("/ready").status_code == 503


@pytest.fixture
def redis_lists(published, staged, redis_server, tmp_path):
    """The tiny run's version published to a real redis-server: (config, port)."""
    _, port = redis_server
    redis_cfg = tiny_config(tmp_path, feast={"online_store": "redis", "redis_connection": f"127.0.0.1:{port}"})
    assert write_version(redis_cfg, renamed(staged, "tiny-run"))["published"] is True
    return redis_cfg, port


def test_rows_awaited_on_the_event_loop_equal_feasts_online_read(redis_lists):
    redis_cfg, _ = redis_lists
    lists = OnlineLists(open_store(redis_cfg))
    assert lists.reads_async and not lists.reads_inline
    manifest = lists.manifest()

    async def compare() -> None:
        for variant in manifest.arms:
            for user in [0, 1, 5, 17, FALLBACK, 987654321]:
                assert await lists.user_list_async(manifest.version, variant, user) == \
                    lists.user_list(manifest.version, variant, user)
        assert await lists.user_list_async(manifest.version, "control", 5) is not None, "a real row is compared"
        movies = lists.user_list(manifest.version, "control", FALLBACK).movie_ids[:5] + [999_999_999]
        for movie in movies:
            assert await lists.similar_async(manifest.version, movie) == lists.similar(manifest.version, movie)
            assert await lists.card_async(manifest.version, movie) == lists.card(manifest.version, movie)
        assert await lists.card_async(manifest.version, movies[0]) is not None

    asyncio.run(compare())
    asyncio.run(compare())   # a second event loop gets a client of its own


def test_a_paused_redis_is_given_up_at_the_deadline_and_read_again_after(redis_lists):
    redis_cfg, port = redis_lists
    deadline = 0.05
    reader = Reader(OnlineLists(open_store(redis_cfg)), ttl_seconds=60, timeout_seconds=deadline, metrics=Metrics())
    assert reader.awaits

    async def scenario() -> None:
        async with reader.running():
            own = await reader.user_list(reader.manifest, "control", 5)
            assert own is not None and own.movie_ids
            # Redis holds every client's commands for a second: as a stalled server or network would.
            redis.Redis(port=port).client_pause(1000)
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await reader.user_list(reader.manifest, "control", 5)
            assert time.monotonic() - started < deadline + 0.025
            await asyncio.sleep(1.1)
            assert await reader.user_list(reader.manifest, "control", 5) == own, "the next read is answered"

    asyncio.run(scenario())
