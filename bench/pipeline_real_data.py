"""Run the whole pipeline on the shared MovieLens data sets and print wall time and metrics.

    .venv/bin/python bench/pipeline_real_data.py [--shared ../shared/data] [--workdir /tmp/movierec-bench]

Each data set runs as its own `movierec pipeline` process (Spark start-up included in the
time), from an empty workdir. Prints one markdown table of metrics per data set.
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
METRICS = ["precision@10", "recall@10", "ndcg@10", "hit_rate@10", "coverage@10", "serendipity@10", "users"]


def datasets(shared: Path) -> dict[str, list[str]]:
    return {
        "ml-latest-small + TMDB 5000": ["--data-dir", str(shared / "movielens-latest-small"), "--tmdb-dir", str(shared / "tmdb-5000")],
        "ml-1m-partial": ["--data-dir", str(shared / "movielens-1m-partial")],
    }


def run(name: str, args: list[str], workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
    report_path = workdir / "report.json"
    command = [str(Path(sys.executable).with_name("movierec")), "pipeline", "--source", "movielens", *args,
               "--workdir", str(workdir), "--report", str(report_path)]
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    seconds = time.perf_counter() - start
    report = json.loads(report_path.read_text())
    print(f"\n### {name}: {seconds:.0f} s wall (steps: {report['timings_seconds']})")
    print(f"gates passed: {report['gates']['passed']}, published: {report['published_version']}\n")
    print("| model | " + " | ".join(METRICS) + " |")
    print("|---" * (len(METRICS) + 1) + "|")
    for model, values in report["models"].items():
        cells = [f"{values[m]:.4f}" if m != "users" else str(values[m]) for m in METRICS]
        print(f"| {model} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/movierec-bench"))
    args = parser.parse_args()
    for index, (name, extra) in enumerate(datasets(args.shared).items()):
        run(name, extra, args.workdir / str(index))


if __name__ == "__main__":
    main()
