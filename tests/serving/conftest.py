"""Serving fixtures: the API over the tiny published run, a store that can be made to fail, real servers."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.conftest import free_port


class FlakyLists:
    """Real store reads that can be made to fail or to hang, as a store that is down or overloaded."""

    def __init__(self, lists) -> None:
        self.lists = lists
        self.mode = "ok"

    def __getattr__(self, name):
        read = getattr(self.lists, name)

        def flaky(*args):
            if self.mode == "down":
                raise ConnectionError("connection refused")
            if self.mode == "hanging":
                time.sleep(3.0)
            return read(*args)

        return flaky


@pytest.fixture(scope="module")
def client(published):
    cfg, _ = published
    with TestClient(create_app(cfg)) as test_client:
        yield test_client


class LiveServer:
    """uvicorn in a thread on a free loopback port."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
