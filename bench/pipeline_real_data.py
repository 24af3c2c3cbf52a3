"""Run the whole pipeline on the shared MovieLens data sets and print wall time and metrics.

    .venv/bin/python bench/pipeline_real_data.py [--shared ../shared/data] [--workdir /tmp/movierec-bench]

Each data set runs as its own `movierec pipeline` process (Spark start-up included in the
time), from an empty workdir. Prints one markdown table of metrics per data set, then the
checks of the ranking issue: final NDCG@10 against EASE and against the best single generator
(same run), coverage against ALS, serendipity against popularity, cold-item recall, new users'
list length, and the train+evaluate time (train_eval + score_eval + evaluate steps).
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
METRICS = ["precision@10", "recall@10", "ndcg@10", "map@10", "ndcg@20", "coverage@10", "serendipity@10", "novelty@10",
           "diversity@10", "cold_item_recall@100", "users"]
NOT_SINGLE = {"ranker", "final"}


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
    timing = report["timings_seconds"]
    print("| model | fit s | " + " | ".join(METRICS) + " |")
    print("|---" * (len(METRICS) + 2) + "|")
    fit = report.get("evaluation_timing", {}).get("fit_seconds", {})
    for model, values in report["models"].items():
        cells = [("-" if m not in values else str(values[m]) if m == "users" else f"{values[m]:.4f}") for m in METRICS]
        print(f"| {model} | {fit.get(model, '-')} | " + " | ".join(cells) + " |")
    print_checks(report, timing["train_eval"] + timing["score_eval"] + timing["evaluate"])


def print_checks(report: dict, train_eval_seconds: float) -> None:
    models = report["models"]
    final = models["final"]
    singles = {m: v["ndcg@10"] for m, v in models.items() if m not in NOT_SINGLE}
    best = max(singles, key=singles.get)
    print(f"\n- final NDCG@10 / EASE: {final['ndcg@10'] / models['ease']['ndcg@10']:.3f}x")
    print(f"- final NDCG@10 / best single generator ({best}): {final['ndcg@10'] / singles[best]:.3f}x")
    print(f"- coverage@10 final {final['coverage@10']:.4f} vs ALS {models['als']['coverage@10']:.4f}")
    print(f"- serendipity@10 final {final['serendipity@10']:.4f} vs popularity {models['popularity']['serendipity@10']:.4f}")
    cold = {m: v.get("cold_item_recall@100") for m in ("content", "two_tower") if (v := models.get(m))}
    print(f"- cold-item recall@100: {cold}; merged candidates: {report['candidates']}")
    print(f"- new users: {report['new_users']}")
    print(f"- train + evaluate (train_eval + score_eval + evaluate): {train_eval_seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/movierec-bench"))
    args = parser.parse_args()
    for index, (name, extra) in enumerate(datasets(args.shared).items()):
        run(name, extra, args.workdir / str(index))


if __name__ == "__main__":
    main()
