"""Do the ranker's feature-store features help? The pipeline with and without them, same data and seed.

    .venv/bin/python bench/store_features.py [--shared ../shared/data] [--workdir /tmp/movierec-store-bench]

For the default synthetic data and ml-latest-small + TMDB 5000, runs `movierec pipeline` twice
(`models.ranker.store_features` true, then false) from empty workdirs and prints the ranker's and
the final lists' NDCG@k and recall@k (k = `evaluation.k`) side by side, with the ratio on / off.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["ndcg", "recall"]
LISTS = ["ranker", "final"]


def sources(shared: Path) -> dict[str, list[str]]:
    return {
        "synthetic (default)": ["--source", "synthetic"],
        "ml-latest-small + TMDB 5000": ["--source", "movielens", "--data-dir", str(shared / "movielens-latest-small"),
                                        "--tmdb-dir", str(shared / "tmdb-5000")],
    }


def pipeline(args: list[str], store: bool, workdir: Path) -> dict:
    shutil.rmtree(workdir, ignore_errors=True)
    report = workdir / "report.json"
    command = [str(Path(sys.executable).with_name("movierec")), "pipeline", *args, "--workdir", str(workdir),
               "--report", str(report), "--set", f"models.ranker.store_features={str(store).lower()}"]
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    return json.loads(report.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/movierec-store-bench"))
    args = parser.parse_args()
    print("| data | list | metric | store features on | off | on / off |")
    print("|---|---|---|---|---|---|")
    for index, (name, extra) in enumerate(sources(args.shared).items()):
        on = pipeline(extra, True, args.workdir / f"{index}-on")
        off = pipeline(extra, False, args.workdir / f"{index}-off")
        for model in LISTS:
            for metric in (f"{m}@{on['k']}" for m in METRICS):
                a, b = on["models"][model][metric], off["models"][model][metric]
                print(f"| {name} | {model} | {metric} | {a:.4f} | {b:.4f} | {a / b:.3f} |" if b else
                      f"| {name} | {model} | {metric} | {a:.4f} | {b:.4f} | - |", flush=True)


if __name__ == "__main__":
    main()
