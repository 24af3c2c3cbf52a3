"""A pipeline killed half-way through a step (SIGKILL to its whole process group, nothing cleaned up), then run
again with the same run id, publishes the same lists as an uninterrupted run, and the previous version serves
until it does.

    .venv/bin/python bench/killed_run.py [--steps train_full,score_full,publish] [--out /tmp/movierec-killed]

1. A base workdir runs the whole pipeline once (run `r0`, published) on the tests' tiny synthetic data and
   model sizes (`tests/conftest.py`), so every scenario starts with a live version.
2. Scenario `uninterrupted`: a copy of the base runs `movierec pipeline --run-id r1` to the end. Its log gives
   each step's seconds.
3. One scenario per step in `--steps`: another copy starts the same command, waits for the step's start line
   plus half the step's uninterrupted seconds, SIGKILLs the process group, reads which version the store
   serves, then runs the same command again to the end.
4. Prints, per scenario: where it was killed, the live version just after the kill, the rerun's seconds, and
   how many of the published lists of `r1` (every user of the full split x every variant, plus the fallback
   lists) have the same movie ids, and the same items byte for byte (scores, reasons, slots), as the
   uninterrupted run's.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import TINY_MODELS, TINY_SYNTHETIC, tiny_config  # noqa: E402

MOVIEREC = str(ROOT / ".venv" / "bin" / "movierec")
SETTINGS = {"synthetic": TINY_SYNTHETIC, "models": TINY_MODELS,
            "gates": {"min": {"ndcg@10": 0.0}, "min_ndcg_vs_popularity": 0.0, "min_ndcg_vs_best_generator": None}}
ENV = {**os.environ, "FEAST_USAGE": "False"}
STEP_FINISHED = re.compile(r"step (\w+) finished in ([0-9.]+) s")


def flat(tree: dict, prefix: str = "") -> list[str]:
    """{"a": {"b": 1}} -> ["--set=a.b=1"]; lists as YAML flow sequences."""
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += flat(value, f"{prefix}{key}.")
        else:
            out.append(f"--set={prefix}{key}={value!r}" if isinstance(value, list) else f"--set={prefix}{key}={value}")
    return out


def command(workdir: Path, run_id: str) -> list[str]:
    return [MOVIEREC, "pipeline", "--run-id", run_id, "--workdir", str(workdir), *flat(SETTINGS)]


def run(workdir: Path, run_id: str, log: Path) -> float:
    start = time.perf_counter()
    with log.open("a") as out:
        done = subprocess.run(command(workdir, run_id), stdout=out, stderr=subprocess.STDOUT, env=ENV)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command(workdir, run_id))} exited {done.returncode}: see {log}")
    return time.perf_counter() - start


def kill_during(workdir: Path, step: str, after: float, log: Path) -> float:
    """Start the pipeline, SIGKILL its process group `after` seconds into `step`; return seconds into the run."""
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(command(workdir, "r1"), stdout=out, stderr=subprocess.STDOUT, env=ENV,
                                start_new_session=True)
    while f"step {step} started" not in log.read_text():
        if proc.poll() is not None:
            raise SystemExit(f"the run ended (exit {proc.returncode}) before {step} started: see {log}")
        time.sleep(0.05)
    time.sleep(after)
    if proc.poll() is not None:
        raise SystemExit(f"the run ended before the kill, {after:.1f} s into {step}: see {log}")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return time.perf_counter() - start


def published(workdir: Path, version: str) -> dict[tuple[str, str], tuple[list[int], list[str]]]:
    """Every list of `version` in the workdir's store: (variant, user) -> (movie ids, items)."""
    from jobs.lake_query import run_sql
    from serving.store import OnlineLists, open_store

    cfg = tiny_config(workdir)
    users = [str(row[0]) for row in run_sql(
        cfg, "SELECT DISTINCT user_id FROM gold.ranked_lists WHERE run_id = 'r1' AND split = 'full' "
             "AND user_id >= 0").rows] + ["__fallback__"]
    lists = OnlineLists(open_store(cfg))
    out = {}
    for variant in cfg.experiment.variants:
        for user in users:
            found = lists.user_list(version, variant, user if user == "__fallback__" else int(user))
            out[(variant, user)] = (found.movie_ids, found.items) if found else None
    return out


def live(workdir: Path) -> str | None:
    from serving.store import OnlineLists, open_store

    manifest = OnlineLists(open_store(tiny_config(workdir))).manifest()
    return manifest.version if manifest else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="train_full,score_full,publish")
    parser.add_argument("--out", default="/tmp/movierec-killed")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    base = out / "base"
    print(f"base run r0: {run(base, 'r0', out / 'base.log'):.1f} s", flush=True)
    reference = out / "uninterrupted"
    shutil.copytree(base, reference)
    seconds = run(reference, "r1", out / "uninterrupted.log")
    steps = {m[1]: float(m[2]) for m in STEP_FINISHED.finditer((out / "uninterrupted.log").read_text())}
    print(f"uninterrupted r1: {seconds:.1f} s; steps: {steps}", flush=True)
    expected = published(reference, "r1")
    missing = sum(v is None for v in expected.values())
    print(f"{len(expected)} lists of r1 published ({missing} missing)", flush=True)

    print("| killed in | at (s into the step / run) | live after the kill | rerun s | same movie ids | same items |")
    print("|---|---|---|---|---|---|")
    for step in args.steps.split(","):
        workdir = out / step
        shutil.copytree(base, workdir)
        after = steps[step] / 2
        into_run = kill_during(workdir, step, after, out / f"{step}.log")
        serving = live(workdir)
        rerun = run(workdir, "r1", out / f"{step}.log")
        got = published(workdir, "r1")
        same_ids = sum(got.get(key) is not None and got[key][0] == want[0] for key, want in expected.items())
        same_items = sum(got.get(key) is not None and got[key] == want for key, want in expected.items())
        print(f"| {step} | {after:.1f} / {into_run:.1f} | {serving} | {rerun:.1f} | {same_ids}/{len(expected)} "
              f"| {same_items}/{len(expected)} |", flush=True)


if __name__ == "__main__":
    main()
