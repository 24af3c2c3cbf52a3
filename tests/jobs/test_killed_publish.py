"""A publish killed half-way (SIGKILL, nothing cleaned up) leaves the previous version serving throughout, and
running it again publishes exactly the lists an uninterrupted publish does."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from jobs.publish import write_version
from serving.store import OnlineLists, open_store
from tests.conftest import renamed, tiny_config
from tests.serving.test_workers import MOVIEREC, reading, serving

pytestmark = pytest.mark.spark


def _rows_of(cfg, version: str) -> int:
    """Rows of `version` in the SQLite store's list view (its key holds "<version>:")."""
    with sqlite3.connect(cfg.feast.sqlite_path, timeout=30) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                  if name.endswith("user_recommendations")]
        return sum(conn.execute(f'SELECT count(*) FROM "{name}" WHERE instr(entity_key, ?) > 0',
                                (f"{version}:".encode(),)).fetchone()[0] for name in tables)


def _publish_command(cfg) -> list[str]:
    settings = {"feast.repo_dir": cfg.feast.repo_dir, "feast.sqlite_path": cfg.feast.sqlite_path,
                "publish.chunk_rows": cfg.publish.chunk_rows, "publish.write_rows": cfg.publish.write_rows}
    return [MOVIEREC, "publish", "--run-id", "tiny-run", "--env", "local", "--workdir", cfg.workdir,
            *(f"--set={k}={v}" for k, v in settings.items())]


def test_a_publish_killed_half_way_serves_the_old_version_until_a_rerun_publishes_the_same_lists(
        published, staged, tmp_path):
    published_cfg, _ = published
    workdir = tmp_path / "work"
    # A copy of the published run's workdir (lake, run state, MLflow), so the session's run is left as it is.
    shutil.copytree(published_cfg.workdir, workdir, ignore=shutil.ignore_patterns("feast"))
    cfg = tiny_config(workdir, serving={"store_timeout_ms": 50, "manifest_ttl_seconds": 0.2},
                      publish={"chunk_rows": 20, "write_rows": 5})  # many small writes: time to kill it mid-way
    write_version(cfg, renamed(staged, "before"))
    out = tmp_path / "reads.jsonl"
    users = sorted({int(k.split(":")[-1]) for k in staged["lists"]["list_key"] if "__" not in k})
    with serving(cfg, workers=1, tmp=tmp_path) as port:
        with reading(port, 50, out, users):
            publisher = subprocess.Popen(_publish_command(cfg), start_new_session=True,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 180
            while _rows_of(cfg, "tiny-run") < 20 and publisher.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            os.killpg(publisher.pid, signal.SIGKILL)
            publisher.wait(30)
            written = _rows_of(cfg, "tiny-run")
            assert 0 < written < len(staged["lists"]), f"killed with {written} of {len(staged['lists'])} lists written"
            time.sleep(1)
            assert OnlineLists(open_store(cfg)).manifest().version == "before"
            rerun = subprocess.run(_publish_command(cfg), capture_output=True, text=True, timeout=300)
            assert rerun.returncode == 0, rerun.stderr[-2000:]
            time.sleep(1)
    reads = [json.loads(line) for line in out.read_text().splitlines()]
    served = [r["version"] for r in reads]
    assert served[0] == "before" and served[-1] == "tiny-run", "the old version until the rerun flipped"
    assert "before" not in served[served.index("tiny-run"):]
    # Every answer is whole and from one version. Here the publisher's Spark shares the API's two cores, so a
    # read can miss the 50 ms deadline and be answered (flagged) from the fallback cache of the same version:
    # that is the degraded path working, not the killed publish showing through.
    assert all(r["status"] == 200 and r["version"] in ("before", "tiny-run") and r["movie_ids"] for r in reads)

    expected = {key.split(":", 1)[1]: list(ids) for key, ids in zip(staged["lists"]["list_key"],
                                                                    staged["lists"]["movie_ids"])}
    lists = OnlineLists(open_store(cfg))
    assert lists.manifest().version == "tiny-run"
    for key, ids in expected.items():
        variant, user = key.split(":", 1)      # audience keys hold colons: __genre__:<genre>|age=<band>
        assert lists.user_list("tiny-run", variant, user if user.startswith("__") else int(user)).movie_ids == ids
    data = Path(cfg.feast.repo_dir) / "data"
    assert not [p.name for p in data.iterdir() if p.name.startswith(".")], "no half-built snapshot folder left behind"
