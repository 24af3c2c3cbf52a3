"""Run the whole pipeline on the shared MovieLens data sets and print wall time and metrics.

    .venv/bin/python bench/pipeline_real_data.py [--shared ../shared/data] [--workdir /tmp/movierec-bench]
        [--only ml-1m-partial] [--set evaluation.protocol=leave_one_out ...]

Each data set runs as its own `movierec pipeline` process (Spark start-up included in the
time), from an empty workdir. Prints the wall time, the train + evaluate time, and the run's
report.md: every model side by side, then the headline checks (final NDCG@10 against EASE and the
best single generator in the same run, coverage against ALS, serendipity against popularity,
cold-item recall, new users).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
def datasets(shared: Path) -> dict[str, list[str]]:
    return {
        "ml-latest-small + TMDB 5000": ["--data-dir", str(shared / "movielens-latest-small"), "--tmdb-dir", str(shared / "tmdb-5000")],
        "ml-1m-partial": ["--data-dir", str(shared / "movielens-1m-partial")],
    }


def run(name: str, args: list[str], workdir: Path, settings: list[str]) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
    report_path = workdir / "report.json"
    command = [str(Path(sys.executable).with_name("movierec")), "pipeline", "--source", "movielens", *args,
               "--workdir", str(workdir), "--report", str(report_path), *(x for s in settings for x in ("--set", s))]
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    seconds = time.perf_counter() - start
    report = json.loads(report_path.read_text())
    timing = report["timings_seconds"]
    print(f"\n### {name}{' with ' + ', '.join(settings) if settings else ''}: {seconds:.0f} s wall (steps: {timing})")
    print(f"gates passed: {report['gates']['passed']}, published: {report['published_version']}")
    print(f"train + evaluate (train_eval + score_eval + evaluate): {timing['train_eval'] + timing['score_eval'] + timing['evaluate']:.0f} s\n")
    print((workdir / "runs" / report["run_id"] / "report.md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/movierec-bench"))
    parser.add_argument("--only", help="run only the data set whose name starts with this")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to movierec pipeline")
    args = parser.parse_args()
    for index, (name, extra) in enumerate(datasets(args.shared).items()):
        if args.only is None or name.startswith(args.only):
            run(name, extra, args.workdir / str(index), args.set)


if __name__ == "__main__":
    main()
