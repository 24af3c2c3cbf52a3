"""Shared fixtures: one local Spark session with Delta, and a tiny published pipeline run."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("FEAST_USAGE", "False")
# py4j logs from __del__ at interpreter exit, after pytest has closed the captured streams.
logging.getLogger("py4j").setLevel(logging.WARNING)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BENCH = Path(__file__).resolve().parents[1] / "bench"
TINY_SYNTHETIC = {"users": 160, "movies": 90, "events_per_user": 25, "days": 120}
# Every generator and the ranker, sized so a whole pipeline run takes seconds.
TINY_MODELS = {"als": {"factors": 8, "iterations": 5}, "als_tuning": {"factors": [], "regularization": []},
               "two_tower": {"dim": 8, "content_dim": 8, "epochs": 1, "samples_per_user": 5},
               "sasrec": {"dim": 8, "layers": 1, "max_len": 10, "epochs": 2},
               "ranker": {"n_estimators": 20, "max_depth": 3, "num_workers": 1}}


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run the suites marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def bench_module(name: str):
    """bench/<name>.py as module `bench_<name>` (registered: dataclasses look their module up); bench/ is not a package."""
    module_name = f"bench_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, BENCH / f"{name}.py")
        module = sys.modules[module_name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def tiny_config(workdir: Path, **overrides):
    from conf import load_config

    base = {
        "workdir": str(workdir),
        "synthetic": TINY_SYNTHETIC,
        "spark": {"conf": {"spark.sql.shuffle.partitions": "2"}},
        "models": TINY_MODELS,
        "gates": {"min": {"ndcg@10": 0.0}, "min_ndcg_vs_popularity": 0.0, "min_ndcg_vs_best_generator": None},
        # A loaded test machine can stall a store read past the production deadline; the store-down tests
        # make reads fail or hang for longer than this.
        "serving": {"store_timeout_ms": 500},
    }
    for key, value in overrides.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return load_config("local", base, environ={})


def silver_fingerprint(spark, cfg, name: str = "interactions") -> tuple[int, str]:
    """Row count and content hash of a silver table, ignoring when rows were ingested (a movie without a
    version of its own is versioned by its ingestion time, so two lakes fed the same files differ there)."""
    import hashlib

    from jobs import lake

    frame = lake.read(spark, cfg.table_path("silver", name)).drop("ingested_at", "updated_at")
    rows = sorted(str(tuple(r)) for r in frame.collect())
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


@pytest.fixture(scope="session", autouse=True)
def _stop_spark_at_exit():
    """Stop whatever Spark session the tests (or dag.test tasks) started, while logging still works."""
    yield
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from jobs.spark import get_spark

    return get_spark(tiny_config(tmp_path_factory.mktemp("spark")))


@pytest.fixture(scope="session")
def published(tmp_path_factory, spark):
    """A tiny synthetic run taken through every step and published: (cfg, report)."""
    from jobs.pipeline import run_pipeline

    cfg = tiny_config(tmp_path_factory.mktemp("published"))
    report = run_pipeline(cfg, spark, run_id="tiny-run")
    assert report["published_version"] == "tiny-run", report["gates"]
    return cfg, report


@pytest.fixture(scope="session")
def staged(published, spark, tmp_path_factory) -> dict:
    """The tiny run's rows as the publish step stages them (before its items are encoded), in memory."""
    import pandas as pd

    from jobs import runs
    from jobs.publish import BUCKET, stage_version

    cfg, _ = published
    path = tmp_path_factory.mktemp("staged")
    version = stage_version(cfg, spark, "tiny-run", runs.load_state(cfg, "tiny-run"), version="tiny-run", path=str(path))
    return {view: pd.read_parquet(rows.path).drop(columns=BUCKET)
            for view, rows in (("lists", version.lists), ("similar", version.similar), ("cards", version.cards))}


def renamed(staged: dict, name: str):
    """The tiny run's staged rows as version `name`: a jobs.publish.Version for write_version."""
    from jobs.publish import Version

    def keyed(frame, key: str):
        return frame.assign(**{key: frame[key].str.replace("tiny-run:", f"{name}:", n=1, regex=False)})

    return Version(name, keyed(staged["lists"], "list_key"), keyed(staged["similar"], "movie_key"),
                   keyed(staged["cards"], "movie_key"))


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


def start_redis_server(binary: str, folder: Path) -> tuple[subprocess.Popen, int]:
    """A redis-server with no persistence on a free loopback port, once it accepts connections: (process, port).
    Shared with bench/publish.py."""
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free loopback port, with no persistence; yields its port."""
    process, port = start_redis_server(require_binary("redis-server"), tmp_path)
    yield process, port
    process.kill()
    process.wait(10)
