"""The same publish and API on a real redis-server, selected by configuration alone."""

import pytest
from fastapi.testclient import TestClient

from jobs.publish import write_version
from serving.app import create_app
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
