"""Server CPU per request and closed-loop throughput of the recommendations route: the fast path against the
FastAPI route, on one server, in one run.

    .venv/bin/python bench/serving.py --skip-exposure-off        # publishes the synthetic version once
    .venv/bin/python bench/serving_cpu.py [--workdir .workdir/bench-serving] [--workers 1] [--runs 5] [--seconds 10]

Starts `movierec serve --workers N` on the version `bench/serving.py` published in `--workdir`, then runs wrk (closed
loop, `--connections` connections, one thread) over the same random users two ways, alternated run by run: the
plain URL (`?k=20`, which `serving/fast_path.py` answers) and the same URL with a parameter the route ignores,
percent-encoded (`&via=%3D`), which the fast path leaves to FastAPI's parameter solving. Both give the same bytes
(tests/serving/test_fast_path.py). Prints, per form, requests/s and the server's CPU microseconds per request
(user + system of the server and its workers, from psutil), medians of `--runs` with min-max, and the ratios.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import cpu_seconds, saturation, wait_ready  # noqa: E402

FORMS = {"fast path": "", "FastAPI route": "&via=%3D"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=str(ROOT / ".workdir" / "bench-serving"))
    parser.add_argument("--users", type=int, default=20_000, help="as published by bench/serving.py")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5, help="runs per form, alternated")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    port = 18082
    users = np.random.default_rng(args.seed).integers(0, int(args.users / 0.95), 50_000)
    scratch = Path(args.workdir) / "wrk-cpu"
    scratch.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent / "movierec"), "serve", "--workdir", args.workdir,
               "--workers", str(args.workers), "--port", str(port), "--set", "serving.exposure_log=null"]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "FEAST_USAGE": "False"}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    results: dict[str, list[tuple[float, float]]] = {form: [] for form in FORMS}
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", process)
        for suffix in FORMS.values():   # warm-up
            saturation(port, [f"/v1/users/{u}/recommendations?k=20{suffix}" for u in users], 3, args.connections, 0, scratch)
        for run in range(args.runs):
            for form, suffix in FORMS.items():
                paths = [f"/v1/users/{u}/recommendations?k=20{suffix}" for u in users]
                before = cpu_seconds(process.pid)
                rate = saturation(port, paths, args.seconds, args.connections, args.seed + run, scratch)
                used = cpu_seconds(process.pid) - before
                results[form].append((rate, 1e6 * used / max(rate * args.seconds, 1.0)))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    print(f"\nmovierec serve --workers {args.workers}, wrk -t1 -c{args.connections}, {args.runs} runs of "
          f"{args.seconds:.0f} s per form, alternated; medians (min-max)\n")
    print("| request form | requests/s | server CPU us/request |\n|---|---|---|")
    medians = {}
    for form, runs in results.items():
        rates, cpus = [r for r, _ in runs], [c for _, c in runs]
        medians[form] = (statistics.median(rates), statistics.median(cpus))
        print(f"| {form} | {medians[form][0]:,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) "
              f"| {medians[form][1]:,.0f} ({min(cpus):,.0f}-{max(cpus):,.0f}) |")
    fast, routed = medians["fast path"], medians["FastAPI route"]
    print(f"\nfast path / FastAPI route: throughput {fast[0] / routed[0]:.2f}x, CPU per request {fast[1] / routed[1]:.2f}x")


if __name__ == "__main__":
    main()
