"""Serving fixtures: the API over the tiny published run, a store that can be made to fail, real servers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app


def require_binary(name: str) -> str:
    """The path of `name`; missing is a failure, not a skip, so a suite never passes without its server."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `make sysdeps` installs it from Debian's packages")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free loopback port, with no persistence; yields its port."""
    binary = require_binary("redis-server")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    yield process, port
    process.kill()
    process.wait(10)
