"""Serving under load: our API against Feast's own feature server, same online store, same users, same run.

    .venv/bin/python bench/serving.py [--users 100000] [--rates 100,300,500,1000] [--duration 30]

1. Publishes a synthetic version (every user gets a list of `final_list_size` items per experiment
   variant, plus similar movies and cards) through the publish step's `write_version`, into the
   configured online store (SQLite by default; `--env`/`MOVIEREC__FEAST__*` for Redis).
2. Starts `movierec serve` and `feast serve` on loopback, one process each, and drives each in turn
   with vegeta (a Go load generator, its own process) at each constant rate: our API with
   GET /v1/users/{id}/recommendations, Feast with POST /get-online-features for the same list key
   and the same features. About 5% of the users are unknown (our API answers with the fallback).
3. Prints p50/p95/p99 latency, throughput and errors for both at each rate, and the ratios.

vegeta: `go install github.com/tsenart/vegeta/v12@v12.13.0` (found on PATH or in ~/go/bin).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conf import load_config  # noqa: E402
from jobs.publish import Version, write_version  # noqa: E402
from serving.store import FALLBACK, USER_LIST_FEATURES, list_key, movie_key  # noqa: E402
from serving.variants import assign  # noqa: E402

GENRES = ["Action", "Adventure", "Animation", "Comedy", "Crime", "Drama", "Family", "Fantasy", "Horror", "Mystery",
          "Romance", "Science Fiction", "Thriller", "War", "Western"]
SLOTS = np.array(["similar", "diverse", "trending"])


def synthetic_version(name: str, users: int, movies: int, per_list: int, variants: list[str], seed: int) -> Version:
    """Lists drawn from a long-tailed popularity, with card fields and reasons shaped like the pipeline's."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, movies + 1)
    titles = np.array([f"Movie {i}" for i in ids], dtype=object)
    years = rng.integers(1950, 2027, movies)
    genres = np.array(["|".join(rng.choice(GENRES, rng.integers(1, 4), replace=False)) for _ in ids], dtype=object)
    posters = np.array([f"/poster{i}.jpg" for i in ids], dtype=object)
    popularity = 1.0 / np.arange(1, movies + 1) ** 0.8
    popularity /= popularity.sum()
    now = pd.Timestamp.now(tz="UTC").isoformat()

    def item_lists(n_lists: int) -> dict:
        picks = [rng.choice(movies, per_list, replace=False, p=popularity) for _ in range(n_lists)]
        return {
            "movie_ids": [ids[p].tolist() for p in picks],
            "scores": [np.sort(rng.random(per_list))[::-1].astype(np.float32).tolist() for _ in picks],
            "titles": [titles[p].tolist() for p in picks],
            "years": [years[p].tolist() for p in picks],
            "genres": [genres[p].tolist() for p in picks],
            "poster_paths": [posters[p].tolist() for p in picks],
        }

    frames = []
    for variant in variants:
        keys = [list_key(name, variant, u) for u in range(users)] + [list_key(name, variant, FALLBACK)]
        lists = item_lists(len(keys))
        lists["reasons"] = [[f"Because you watched {titles[rng.integers(movies)]}"] * per_list for _ in keys]
        lists["slots"] = [SLOTS[rng.integers(0, 3, per_list)].tolist() for _ in keys]
        frames.append(pd.DataFrame({"list_key": keys, **lists, "generated_at": now}))
    similar = pd.DataFrame({"movie_key": [movie_key(name, int(i)) for i in ids], **item_lists(movies)})
    cards = pd.DataFrame({
        "movie_key": [movie_key(name, int(i)) for i in ids], "title": titles, "year": years,
        "genres": [g.split("|") for g in genres], "overview": "A synthetic movie.", "runtime": 100.0,
        "vote_average": 6.5, "poster_path": posters, "director": "Someone",
    })
    return Version(name, pd.concat(frames, ignore_index=True), similar, cards)


def vegeta() -> str:
    found = shutil.which("vegeta") or str(Path.home() / "go" / "bin" / "vegeta")
    if not Path(found).exists():
        sys.exit("vegeta not found: go install github.com/tsenart/vegeta/v12@v12.13.0")
    return found


def wait_ready(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    sys.exit(f"{url} did not answer within {seconds:.0f} s")


def attack(targets: list[dict], rate: int, duration: float, out: Path) -> dict:
    """Constant-rate load from vegeta; returns its JSON report."""
    out.write_text("\n".join(json.dumps(t) for t in targets) + "\n")
    attack = subprocess.Popen([vegeta(), "attack", "-format=json", f"-targets={out}", f"-rate={rate}/s",
                               f"-duration={duration}s", "-timeout=5s"], stdout=subprocess.PIPE)
    report = subprocess.run([vegeta(), "report", "-type=json"], stdin=attack.stdout, capture_output=True, check=True)
    attack.wait()
    return json.loads(report.stdout)


def summary(name: str, report: dict) -> dict:
    lat = report["latencies"]
    codes = report.get("status_codes", {})
    return {"server": name, "requests": report["requests"], "rate": round(report["rate"], 1),
            "throughput": round(report["throughput"], 1), "p50_ms": lat["50th"] / 1e6, "p95_ms": lat["95th"] / 1e6,
            "p99_ms": lat["99th"] / 1e6, "max_ms": lat["max"] / 1e6,
            "errors": sum(n for code, n in codes.items() if not code.startswith("2")), "status_codes": codes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(ROOT / ".workdir" / "bench-serving"))
    parser.add_argument("--env", default=None)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--movies", type=int, default=5_000)
    parser.add_argument("--rates", default="100,300,500,1000", help="requests per second, one measurement each")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured per server")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before each measurement")
    parser.add_argument("--reuse", action="store_true", help="serve the version already published in --workdir")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("FEAST_USAGE", "False")

    cfg = load_config(args.env, {"workdir": args.workdir})
    version = "bench"
    variants = list(cfg.experiment.variants)
    weights = [cfg.experiment.variants[v].weight for v in variants]
    if not args.reuse:
        shutil.rmtree(cfg.feast.repo_dir, ignore_errors=True)
        start = time.perf_counter()
        data = synthetic_version(version, args.users, args.movies, cfg.models.final_list_size, variants, args.seed)
        made = time.perf_counter() - start
        start = time.perf_counter()
        written = write_version(cfg, data)
        print(f"published {written['lists']:,} lists ({args.users:,} users x {len(variants)} variants + fallbacks), "
              f"{written['movie_cards']:,} movies into {cfg.feast.online_store}: generated in {made:.0f} s, "
              f"written in {time.perf_counter() - start:.0f} s", flush=True)

    rates = [int(r) for r in args.rates.split(",")]
    rng = np.random.default_rng(args.seed + 1)
    requests = int(max(rates) * (args.duration + args.warmup))
    # 5% of requests are for users with no list: our API serves the fallback, Feast returns nulls.
    users = rng.integers(0, int(args.users / 0.95), requests)
    ours_port, feast_port = 18080, 18081
    ours_targets = [{"method": "GET", "url": f"http://127.0.0.1:{ours_port}/v1/users/{u}/recommendations"} for u in users]
    features = [f"user_recommendations:{f}" for f in USER_LIST_FEATURES]
    feast_targets = [{
        "method": "POST", "url": f"http://127.0.0.1:{feast_port}/get-online-features",
        "header": {"Content-Type": ["application/json"]},
        "body": base64.b64encode(json.dumps({"features": features, "entities": {
            "list_key": [list_key(version, assign(cfg.experiment.name, int(u), variants, weights), int(u))]}}).encode()).decode(),
    } for u in users]

    env = {**os.environ, "FEAST_USAGE": "False"}
    servers = {
        "movierec API": ([str(Path(sys.executable).parent / "movierec"), "serve", "--workdir", args.workdir,
                          *(["--env", args.env] if args.env else []), "--port", str(ours_port)],
                         f"http://127.0.0.1:{ours_port}/ready", ours_targets),
        "feast serve": ([str(Path(sys.executable).parent / "feast"), "serve", "--host", "127.0.0.1", "--port", str(feast_port),
                         "--no-access-log", "--workers", "1", "--registry_ttl_sec", "3600", "--max-requests", "100000000"],
                        f"http://127.0.0.1:{feast_port}/health", feast_targets),
    }
    results = []
    scratch = Path(args.workdir) / "vegeta"
    scratch.mkdir(parents=True, exist_ok=True)
    for name, (command, ready_url, targets) in servers.items():
        process = subprocess.Popen(command, cwd=cfg.feast.repo_dir if name == "feast serve" else ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_ready(ready_url, process)
            for rate in rates:
                warm = int(rate * args.warmup)
                attack(targets[:warm], rate, args.warmup, scratch / "warmup.jsonl")
                report = attack(targets[warm:warm + int(rate * args.duration)], rate, args.duration, scratch / "targets.jsonl")
                results.append({**summary(name, report), "target_rate": rate})
                time.sleep(2)  # let a saturated server drain before the next rate
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)

    print(f"\n{args.duration:.0f} s per rate and server after {args.warmup:.0f} s of warm-up; {args.users:,} users; one server "
          f"process each; {cfg.feast.online_store} online store; vegeta on the same {os.cpu_count()}-core machine")
    print(f"{'server':<14}{'rate/s':>7}{'achieved/s':>11}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}")
    for r in results:
        print(f"{r['server']:<14}{r['target_rate']:>7}{r['throughput']:>11.1f}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}"
              f"{r['p99_ms']:>9.2f}{r['max_ms']:>9.2f}{r['errors']:>8}")
    print("\nfeast serve / movierec API (above 1 = ours is faster or serves more):")
    for rate in rates:
        ours, theirs = (next(r for r in results if r["server"] == s and r["target_rate"] == rate) for s in servers)
        print(f"  {rate:>5}/s: p50 {theirs['p50_ms'] / ours['p50_ms']:.2f}x, p99 {theirs['p99_ms'] / ours['p99_ms']:.2f}x, "
              f"throughput {ours['throughput'] / max(theirs['throughput'], 1e-9):.2f}x")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
