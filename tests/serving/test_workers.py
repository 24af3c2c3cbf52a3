"""`movierec serve` as it runs in production, in processes of its own: several workers behind one port with
merged metrics, and a new version published while a reader reads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from jobs.publish import Version, write_version
from serving.responses import LIST_COLUMNS
from serving.workers import WorkersFailed, run_workers
from tests.conftest import free_port, renamed, tiny_config

pytestmark = pytest.mark.spark

ROUTE = "/v1/users/{user_id}/recommendations"
MOVIEREC = str(Path(sys.executable).parent / "movierec")


@contextmanager
def serving(cfg, workers: int, tmp: Path):
    """`movierec serve` on a free port for `cfg`'s workdir and store, until the block ends: its port."""
    port = free_port()
    settings = {"feast.repo_dir": cfg.feast.repo_dir, "feast.sqlite_path": cfg.feast.sqlite_path,
                "serving.store_timeout_ms": cfg.serving.store_timeout_ms,
                "serving.manifest_ttl_seconds": cfg.serving.manifest_ttl_seconds}
    command = [MOVIEREC, "serve", "--env", "local", "--workdir", cfg.workdir, "--port", str(port),
               "--workers", str(workers), *(f"--set={k}={v}" for k, v in settings.items())]
    # TMPDIR: where the server makes its metrics folder, so the test can look into it. Its log goes to a file: a
    # pipe nobody reads fills up (a warning per degraded answer) and blocks the server, even in its shutdown.
    errors = tmp / f"serve-{port}.log"
    with errors.open("wb") as log:
        process = subprocess.Popen(command, env={**os.environ, "TMPDIR": str(tmp)}, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"movierec serve exited: {errors.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("movierec serve did not become ready")
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            # The tests using this helper are about what the server answered, not how fast it stops: leave nothing
            # running, and say so.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
            warnings.warn(f"movierec serve took over 30 s to stop on SIGTERM: {errors.read_text()[-2000:]}", stacklevel=3)


@contextmanager
def reading(port: int, rate: int, out: Path, users: list[int]):
    """tests/serving/read_loop.py in a process of its own, reading `users`' lists at `rate`/s into `out` until the
    block ends."""
    reader = subprocess.Popen([sys.executable, "-m", "tests.serving.read_loop", str(port), "1000", str(rate), str(out),
                               *map(str, users)], cwd=Path(__file__).resolve().parents[2])
    try:
        yield
    finally:
        reader.terminate()
        reader.wait(10)


def _get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.read()


def _counted(metrics: str) -> float:
    """Requests of ROUTE answered 200, in Prometheus' text format."""
    return sum(sample.value for family in text_string_to_metric_families(metrics) for sample in family.samples
               if sample.name == "movierec_requests_total" and sample.labels == {"route": ROUTE, "status": "200"})


def _per_worker(folder: Path) -> dict[str, float]:
    """Requests of ROUTE each worker recorded, from its own file in the multiprocess metrics folder."""
    return {db.name: sum(sample.value for metric in MultiProcessCollector.merge([str(db)]) for sample in metric.samples
                         if sample.name == "movierec_requests_total" and sample.labels["route"] == ROUTE)
            for db in folder.glob("counter_*.db")}


def test_two_workers_share_the_port_and_metrics_add_up_across_them(published, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    cfg, _ = published
    sent = 0
    with serving(cfg, workers=2, tmp=tmp_path) as port, ThreadPoolExecutor(12) as pool:
        [folder] = tmp_path.glob("movierec-metrics-*")
        # /ready answered once one worker is up; the other joins the port when its start-up is done. A new
        # connection per request, many at once: the kernel spreads them over the workers listening.
        deadline = time.monotonic() + 60
        while True:
            bodies = list(pool.map(lambda u: json.loads(_get(port, f"/v1/users/{u % 150}/recommendations")), range(100)))
            sent += len(bodies)
            assert all(b["version"] == "tiny-run" and 0 < len(b["items"]) <= 20 for b in bodies)
            per_worker = _per_worker(folder)
            if len(per_worker) == 2 and min(per_worker.values()) > 0 or time.monotonic() > deadline:
                break
        assert len(per_worker) == 2 and min(per_worker.values()) > 0, per_worker
        # The middleware counts a request once its response is sent: the client can see the last answer a
        # moment before its count lands.
        settle = time.monotonic() + 5
        while sum(_per_worker(folder).values()) < sent and time.monotonic() < settle:
            time.sleep(0.05)
        assert sum(_per_worker(folder).values()) == sent
        # Whichever worker answers /metrics reports every worker's requests.
        assert {_counted(_get(port, "/metrics").decode()) for _ in range(6)} == {float(sent)}
    assert not list(tmp_path.glob("movierec-metrics-*")), "the metrics folder goes with the server"


def exit_at_once(*args) -> None:
    """A worker that cannot start (spawned: it must be importable)."""
    raise SystemExit(3)


def test_workers_that_die_as_they_start_stop_the_server_with_an_error(published):
    cfg, _ = published
    started = time.monotonic()
    before = signal.getsignal(signal.SIGINT), os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    with pytest.raises(WorkersFailed, match="exited 3 times"):
        run_workers(cfg, "127.0.0.1", free_port(), 2, target=exit_at_once)
    assert time.monotonic() - started < 60
    assert (signal.getsignal(signal.SIGINT), os.environ.get("PROMETHEUS_MULTIPROC_DIR")) == before, "both put back"


def _rotated(version: Version, name: str) -> Version:
    """`version` as `name`, every list's items rotated by one: each version's lists are told apart."""
    lists = version.lists.copy()
    for column in LIST_COLUMNS:
        lists[column] = lists[column].map(lambda items: np.roll(items, 1))
    return Version(name, lists, version.similar, version.cards)


def test_a_publish_while_a_reader_reads_degrades_nothing(published, staged, tmp_path):
    published_cfg, _ = published
    # The production deadline, and a writer that commits often (a transaction per 20 rows).
    cfg = tiny_config(Path(published_cfg.workdir), feast={"repo_dir": str(tmp_path / "feast"),
                                                          "sqlite_path": str(tmp_path / "feast" / "online_store.db")},
                      serving={"store_timeout_ms": 50, "manifest_ttl_seconds": 0.5},
                      publish={"chunk_rows": 40, "write_rows": 20})
    before = renamed(staged, "before")
    after = _rotated(renamed(staged, "after"), "after")
    write_version(cfg, before)
    expected = {name: {key.split(":", 1)[1]: list(ids) for key, ids in zip(v.lists["list_key"], v.lists["movie_ids"])}
                for name, v in (("before", before), ("after", after))}
    users = sorted({int(k.split(":")[1]) for k in expected["before"] if "__" not in k})
    out = tmp_path / "reads.jsonl"
    with serving(cfg, workers=1, tmp=tmp_path) as port:
        with reading(port, 100, out, users):
            time.sleep(2)
            write_version(cfg, after)
            deadline = time.monotonic() + 30
            while json.loads(_get(port, "/ready"))["version"] != "after" and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(2)
    reads = [json.loads(line) for line in out.read_text().splitlines()]
    versions = [r["version"] for r in reads]
    assert versions[0] == "before" and versions[-1] == "after" and len(reads) > 200
    assert "before" not in versions[versions.index("after"):], "once the new version was served, the old one never was"
    assert all(r["status"] == 200 and not r["degraded"] and not r["fallback"] for r in reads)
    for r in reads:  # complete, and from exactly one version
        assert r["movie_ids"] == expected[r["version"]][f"{r['variant']}:{r['user']}"], r
    slowest = max(r["ms"] for r in reads)
    assert slowest <= cfg.serving.store_timeout_ms + 25, f"slowest response {slowest:.0f} ms"


def test_rollbacks_while_a_reader_reads_serve_every_response_whole_from_one_version(published, staged, tmp_path):
    from jobs import runs
    from jobs.versions import rollback

    published_cfg, _ = published
    cfg = tiny_config(tmp_path / "work", serving={"store_timeout_ms": 50, "manifest_ttl_seconds": 0.2})
    evaluation = runs.load_state(published_cfg, "tiny-run")["evaluation"]
    versions = {"before": renamed(staged, "before"), "after": _rotated(renamed(staged, "after"), "after")}
    for name, version in versions.items():
        runs.update_state(cfg, name, evaluation=evaluation, publish={})
        write_version(cfg, version)
    expected = {name: {key.split(":", 1)[1]: list(ids) for key, ids in zip(v.lists["list_key"], v.lists["movie_ids"])}
                for name, v in versions.items()}
    users = sorted({int(k.split(":")[1]) for k in expected["before"] if "__" not in k})
    out = tmp_path / "reads.jsonl"
    flips = []
    with serving(cfg, workers=1, tmp=tmp_path) as port:
        with reading(port, 100, out, users):
            time.sleep(1)
            for target in ("before", "after", "before", "after", "before", "after"):
                flips.append(rollback(cfg, target)["version"])
                time.sleep(0.7)
    assert flips == ["before", "after"] * 3
    reads = [json.loads(line) for line in out.read_text().splitlines()]
    served = [r["version"] for r in reads]
    changes = sum(a != b for a, b in zip(served, served[1:]))
    assert len(reads) > 300 and changes >= 4, f"{changes} version changes seen in {len(reads)} reads"
    bad = [r for r in reads if r["status"] != 200 or r["degraded"] or r["fallback"]]
    assert not bad, f"{len(bad)} of {len(reads)}, e.g. {bad[:3]}"
    for r in reads:  # complete, and from exactly one version
        assert r["movie_ids"] == expected[r["version"]][f"{r['variant']}:{r['user']}"], r
