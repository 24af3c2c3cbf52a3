"""Serving under load: our API (one worker per core, and one worker) against Feast's own feature server,
same online store, same users, same run.

    .venv/bin/python bench/serving.py [--users 20000] [--rates 500,1000] [--duration 15] [--redis] [--during-publish]

1. Publishes a synthetic version (every user gets a list of `final_list_size` items per experiment
   variant, plus similar movies and cards) through the publish step's `write_version`, into SQLite, or
   with `--redis` into a redis-server the bench starts (no persistence) on loopback.
2. Starts each server on loopback in turn: `movierec serve --workers <cores>`, `movierec serve
   --workers 1` and `feast serve` (one worker), and drives it with vegeta (a Go load generator, its own
   process, on the same cores) at each constant rate: our API with GET /v1/users/{id}/recommendations
   (k=20), Feast with POST /get-online-features for the same list key and the features our API reads.
   About 5% of the users are unknown (our API answers with the fallback). Then wrk, closed loop with
   `--connections` connections, measures each server's saturation throughput.
3. With `--during-publish`, a last row for the multi-worker API: a new version (same size) is published
   while vegeta reads at the first rate; it counts degraded and fallback answers and the slowest.
4. What the exposure log costs: the multi-worker API with it on (the default: every served list appended to
   `serving.exposure_log`) and off, both up at once, each sent the same rate by one vegeta with their requests
   interleaved, p99 compared run by run (`--skip-exposure-off`).
5. Prints p50/p95/p99 latency, throughput and errors per server and rate, saturation, and the ratios.

vegeta: `go install github.com/tsenart/vegeta/v12@v12.13.0` (found on PATH or in ~/go/bin); wrk: Debian's.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conf import load_config  # noqa: E402
from bench.publish import GENRES, start_redis  # noqa: E402
from jobs.publish import Version, write_version  # noqa: E402
from serving.store import FALLBACK, USER_LIST_FEATURES, list_key, movie_key  # noqa: E402
from serving.variants import assign  # noqa: E402

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


def attack(targets: list[dict], rate: int, duration: float, out: Path, results: Path | None = None,
           bodies: bool = False) -> dict:
    """Constant-rate load from vegeta; returns its JSON report (and keeps the raw results in `results`). vegeta
    reads each body to its end, where its latency ends, but keeps the bodies only with `bodies`: the load
    generator, on the same cores as the server, then does not also hold, encode and write about 4 kB a request."""
    out.write_text("\n".join(json.dumps(t) for t in targets) + "\n")
    raw = results or out.with_suffix(".bin")
    subprocess.run([vegeta(), "attack", "-format=json", f"-targets={out}", f"-rate={rate}/s", f"-duration={duration}s",
                    "-timeout=5s", f"-output={raw}", *([] if bodies else ["-max-body=0"])], check=True)
    report = subprocess.run([vegeta(), "report", "-type=json", str(raw)], capture_output=True, check=True)
    return json.loads(report.stdout)


def warm_up(targets: list[dict], rate: int, args: argparse.Namespace, scratch: Path) -> list[dict]:
    """`--warmup` seconds of load at `rate` from the first targets; returns the next `--duration` seconds' worth,
    the ones to measure."""
    warm = int(rate * args.warmup)
    attack(targets[:warm], rate, args.warmup, scratch / "warmup.jsonl")
    return targets[warm:warm + int(rate * args.duration)]


def answers(results: Path) -> dict:
    """Degraded and fallback answers among vegeta's raw results (their bodies)."""
    encoded = subprocess.run([vegeta(), "encode", "--to", "json", str(results)], capture_output=True, check=True)
    counts = {"degraded": 0, "fallback": 0, "versions": set()}
    for line in encoded.stdout.splitlines():
        result = json.loads(line)
        if result.get("code") != 200:
            continue
        body = json.loads(base64.b64decode(result["body"]))
        counts["degraded"] += body["degraded"]
        counts["fallback"] += body["fallback"]
        counts["versions"].add(body["version"])
    return counts


WRK_SCRIPT = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
math.randomseed(%d)
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
"""


def saturation(port: int, paths: list[str], seconds: float, connections: int, seed: int, scratch: Path) -> float:
    """Requests/s wrk sustains, closed loop with `connections` connections (one thread: the cores are few)."""
    (scratch / "paths.txt").write_text("\n".join(paths) + "\n")
    (scratch / "random.lua").write_text(WRK_SCRIPT % (scratch / "paths.txt", seed))
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "-s", str(scratch / "random.lua"),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    [rate] = [float(line.split()[1]) for line in out.splitlines() if line.startswith("Requests/sec:")]
    non_2xx = [line for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    if non_2xx:
        print(f"  wrk on :{port}: {'; '.join(non_2xx)}", flush=True)
    return rate


def median_row(runs: list[dict]) -> dict:
    """Each figure's median over repeated runs, with the spread of p99 and the errors of all runs."""
    row = {key: statistics.median(r[key] for r in runs)
           for key in ("rate", "throughput", "p50_ms", "p95_ms", "p99_ms", "max_ms")}
    return {**row, "server": runs[0]["server"], "runs": len(runs), "p99_min_ms": min(r["p99_ms"] for r in runs),
            "p99_max_ms": max(r["p99_ms"] for r in runs), "errors": sum(r["errors"] for r in runs),
            "requests": sum(r["requests"] for r in runs)}


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
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--movies", type=int, default=5_000)
    parser.add_argument("--rates", default="500,1000", help="requests per second, one measurement each")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured per server and rate")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before each measurement")
    parser.add_argument("--saturation", type=float, default=10.0, help="seconds of wrk per server (0: skip)")
    parser.add_argument("--connections", type=int, default=32, help="wrk's open connections")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers of the multi-worker API")
    parser.add_argument("--redis", action="store_true", help="publish to and serve from a redis-server started here")
    parser.add_argument("--during-publish", action="store_true",
                        help="also measure the multi-worker API while a new version is published")
    parser.add_argument("--skip-feast", action="store_true", help="leave `feast serve` out")
    parser.add_argument("--skip-exposure-off", action="store_true",
                        help="leave out the comparison of the multi-worker API with its exposure log on and off")
    parser.add_argument("--exposure-repeats", type=int, default=6, help="runs per rate of each, in the on/off comparison")
    parser.add_argument("--exposure-dir", help="where the logging server writes (default: under --workdir)")
    parser.add_argument("--reuse", action="store_true", help="serve the version already published in --workdir")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per server and rate: medians reported")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("FEAST_USAGE", "False")

    redis = None
    overrides: dict = {"workdir": args.workdir}
    settings: list[str] = []
    if args.redis:
        redis = start_redis(Path(tempfile.mkdtemp(prefix="bench-redis-")))
        overrides["feast"] = {"online_store": "redis", "redis_connection": f"127.0.0.1:{redis[1]}"}
        settings = ["--set", "feast.online_store=redis", "--set", f"feast.redis_connection=127.0.0.1:{redis[1]}"]
    try:
        run(args, load_config(args.env, overrides), settings)
    finally:
        if redis is not None:
            redis[0].kill()


def run(args: argparse.Namespace, cfg, settings: list[str]) -> None:
    version = "bench"
    variants = list(cfg.experiment.variants)
    weights = [cfg.experiment.variants[v].weight for v in variants]
    if not args.reuse or args.redis:
        shutil.rmtree(cfg.feast.repo_dir, ignore_errors=True)
        start = time.perf_counter()
        data = synthetic_version(version, args.users, args.movies, cfg.models.final_list_size, variants, args.seed)
        made = time.perf_counter() - start
        start = time.perf_counter()
        written = write_version(cfg, data)
        print(f"published {written['lists']:,} lists ({args.users:,} users x {len(variants)} variants + fallbacks), "
              f"{written['movie_cards']:,} movies into {cfg.feast.online_store}: generated in {made:.0f} s, "
              f"written in {time.perf_counter() - start:.0f} s ({written['rows_per_second']:.0f} rows/s)", flush=True)

    rates = [int(r) for r in args.rates.split(",")]
    rng = np.random.default_rng(args.seed + 1)
    requests = int(max(rates) * (args.duration + args.warmup))
    # 5% of requests are for users with no list: our API serves the fallback, Feast returns nulls.
    users = rng.integers(0, int(args.users / 0.95), requests)
    ours_port, feast_port = 18080, 18081
    paths = [f"/v1/users/{u}/recommendations" for u in users]
    ours_targets = [{"method": "GET", "url": f"http://127.0.0.1:{ours_port}{p}"} for p in paths]
    features = [f"user_recommendations:{f}" for f in USER_LIST_FEATURES]
    feast_targets = [{
        "method": "POST", "url": f"http://127.0.0.1:{feast_port}/get-online-features",
        "header": {"Content-Type": ["application/json"]},
        "body": base64.b64encode(json.dumps({"features": features, "entities": {
            "list_key": [list_key(version, assign(cfg.experiment.name, int(u), variants, weights), int(u))]}}).encode()).decode(),
    } for u in users]

    env = {**os.environ, "FEAST_USAGE": "False"}
    movierec = [str(Path(sys.executable).parent / "movierec"), "serve", "--workdir", args.workdir,
                *(["--env", args.env] if args.env else []), *settings, "--port", str(ours_port)]
    many = f"movierec API x{args.workers}"
    servers = {
        many: ([*movierec, "--workers", str(args.workers)], f"http://127.0.0.1:{ours_port}/ready", ours_targets),
        "movierec API x1": ([*movierec, "--workers", "1"], f"http://127.0.0.1:{ours_port}/ready", ours_targets),
    }

    if not args.skip_feast:
        servers["feast serve"] = (
            [str(Path(sys.executable).parent / "feast"), "serve", "--host", "127.0.0.1", "--port", str(feast_port),
             "--no-access-log", "--workers", "1", "--registry_ttl_sec", "3600", "--max-requests", "100000000"],
            f"http://127.0.0.1:{feast_port}/health", feast_targets)
    results, saturated = [], {}
    scratch = Path(args.workdir) / "vegeta"
    scratch.mkdir(parents=True, exist_ok=True)
    for name, (command, ready_url, targets) in servers.items():
        process = subprocess.Popen(command, cwd=cfg.feast.repo_dir if name == "feast serve" else ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_ready(ready_url, process)
            for rate in rates:
                runs = []
                for _ in range(args.repeats):
                    report = attack(warm_up(targets, rate, args, scratch), rate, args.duration, scratch / "targets.jsonl")
                    runs.append(summary(name, report))
                    time.sleep(2)  # let a saturated server drain before the next run
                results.append({**median_row(runs), "target_rate": rate})
            if args.saturation and name != "feast serve":
                rates_seen = [saturation(ours_port, paths, args.saturation, args.connections, args.seed + i, scratch)
                              for i in range(args.repeats)]
                saturated[name] = {"median": statistics.median(rates_seen), "min": min(rates_seen), "max": max(rates_seen)}
            if args.during_publish and name == many:
                results.append(during_publish(args, cfg, targets, rates[0], scratch))
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)

    exposure = None if args.skip_exposure_off else exposure_cost(args, movierec, env, paths, rates, scratch)
    print(f"\nmedians of {args.repeats} runs of {args.duration:.0f} s per rate and server (each after {args.warmup:.0f} s "
          f"of warm-up), p99 spread min-max; errors summed; {args.users:,} users; {cfg.feast.online_store} online store; "
          f"vegeta and wrk on the same {os.cpu_count()}-core machine; k=20")
    print(f"{'server':<28}{'rate/s':>7}{'achieved/s':>11}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'p99 spread':>15}"
          f"{'max ms':>9}{'errors':>8}")
    for r in results:
        spread = f"{r['p99_min_ms']:.2f}-{r['p99_max_ms']:.2f}" if "p99_min_ms" in r else "one run"
        print(f"{r['server']:<28}{r['target_rate']:>7}{r['throughput']:>11.1f}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}"
              f"{r['p99_ms']:>9.2f}{spread:>15}{r['max_ms']:>9.2f}{r['errors']:>8}")
    for r in results:
        if "degraded" in r:
            print(f"during the publish of a new version: {r['degraded']} degraded, {r['fallback']} fallback answers "
                  f"(about 5% of users are unknown), versions served {r['versions']}, slowest {r['max_ms']:.1f} ms")
    if exposure:
        print(f"\nexposure log on / off ({many} each, both up at once, one vegeta sending each server the rate below, "
              f"requests interleaved; medians of {args.exposure_repeats} runs, min-max):")
        for rate, r in exposure.items():
            (on_lo, on_hi), (off_lo, off_hi) = r["p99_range"]["on"], r["p99_range"]["off"]
            print(f"  {rate:>5}/s each: p99 on {r['p99_ms']['on']:.2f} ms ({on_lo:.2f}-{on_hi:.2f}), off "
                  f"{r['p99_ms']['off']:.2f} ms ({off_lo:.2f}-{off_hi:.2f}); p99 ratio of each run on/off "
                  f"{r['ratio']:.2f} ({r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f}); server CPU per request on "
                  f"{r['cpu_us']['on']:.0f} us, off {r['cpu_us']['off']:.0f} us; errors {r['errors']}; "
                  f"records logged: {r['logged']:,}")
    if saturated:
        print(f"\nsaturation (wrk, closed loop, {args.connections} connections, median of {args.repeats} x "
              f"{args.saturation:.0f} s, min-max): " + ", ".join(
                  f"{name} {r['median']:,.0f} requests/s ({r['min']:,.0f}-{r['max']:,.0f})" for name, r in saturated.items()))
    if not args.skip_feast:
        print("\nfeast serve / movierec API (above 1 = ours is faster or serves more):")
        for rate in rates:
            theirs = next(r for r in results if r["server"] == "feast serve" and r["target_rate"] == rate)
            for name in (many, "movierec API x1"):
                ours = next(r for r in results if r["server"] == name and r["target_rate"] == rate and "degraded" not in r)
                print(f"  {rate:>5}/s {name}: p50 {theirs['p50_ms'] / ours['p50_ms']:.2f}x, "
                      f"p99 {theirs['p99_ms'] / ours['p99_ms']:.2f}x, "
                      f"throughput {ours['throughput'] / max(theirs['throughput'], 1e-9):.2f}x")
    print(json.dumps({"rates": results, "saturation": saturated, "exposure": exposure}, default=sorted))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (a server's supervisor and its workers)."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def exposure_cost(args: argparse.Namespace, movierec: list[str], env: dict, paths: list[str], rates: list[int],
                  scratch: Path) -> dict:
    """p99 of the multi-worker API with its exposure log on and off, measured at the same moments. Both servers run
    at once on their own ports and one vegeta sends each of them `rate` requests/s, interleaved request by request
    (the same users in the same order), so whatever else the machine does at a moment falls on both alike: runs
    minutes apart differ by more than the log costs. Latencies are split by server from vegeta's raw results."""
    ports = {"on": 18082, "off": 18083}
    log_dir = Path(args.exposure_dir or Path(args.workdir) / "exposure-bench")
    shutil.rmtree(log_dir, ignore_errors=True)
    settings = {"on": ["--set", f"serving.exposure_log={log_dir}"], "off": ["--set", "serving.exposure_log=null"]}
    processes = {}
    try:
        for mode, port in ports.items():
            command = [*movierec[:-2], "--port", str(port), "--workers", str(args.workers),   # movierec ends with its --port
                       *settings[mode]]
            processes[mode] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, start_new_session=True)
        for mode, port in ports.items():
            wait_ready(f"http://127.0.0.1:{port}/ready", processes[mode])
        out = {}
        for rate in rates:
            p99: dict[str, list[float]] = {"on": [], "off": []}
            cpu: dict[str, list[float]] = {"on": [], "off": []}
            errors = {"on": 0, "off": 0}
            for i in range(args.exposure_repeats):
                order = ("on", "off") if i % 2 == 0 else ("off", "on")   # neither is always first of a pair
                targets = [{"method": "GET", "url": f"http://127.0.0.1:{ports[mode]}{p}"} for p in paths for mode in order]
                measured = warm_up(targets, 2 * rate, args, scratch)
                before = {mode: cpu_seconds(processes[mode].pid) for mode in ports}
                results = scratch / "exposure.bin"
                attack(measured, 2 * rate, args.duration, scratch / "targets.jsonl", results)
                after = {mode: cpu_seconds(processes[mode].pid) for mode in ports}
                for mode, (latencies, failed) in latencies_by_port(results, ports).items():
                    p99[mode].append(float(np.percentile(latencies, 99)) if len(latencies) else float("nan"))
                    cpu[mode].append((after[mode] - before[mode]) * 1e6 / max(len(latencies), 1))
                    errors[mode] += failed
                time.sleep(2)
            ratios = [on / off for on, off in zip(p99["on"], p99["off"])]
            out[rate] = {"p99_ms": {m: statistics.median(v) for m, v in p99.items()},
                         "p99_range": {m: (min(v), max(v)) for m, v in p99.items()},
                         "ratio": statistics.median(ratios), "ratio_range": (min(ratios), max(ratios)),
                         "cpu_us": {m: statistics.median(v) for m, v in cpu.items()},
                         "cpu_range": {m: (min(v), max(v)) for m, v in cpu.items()}, "errors": errors}
    finally:
        for process in processes.values():
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
    logged = sum(1 for path in log_dir.glob("dt=*/*.jsonl") for _ in path.open())
    for row in out.values():
        row["logged"] = logged
    return out


def latencies_by_port(results: Path, ports: dict[str, int]) -> dict[str, tuple[np.ndarray, int]]:
    """Each server's latencies (ms) and failed requests among vegeta's raw results, by the port in their URL."""
    encoded = subprocess.run([vegeta(), "encode", "--to", "csv", str(results)], capture_output=True, text=True,
                             check=True)
    # vegeta's CSV: timestamp, status code, latency (ns), bytes out, bytes in, error, body, name, seq, method, url, ...
    by_port: dict[int, list[float]] = {port: [] for port in ports.values()}
    failed = {port: 0 for port in ports.values()}
    for row in csv.reader(io.StringIO(encoded.stdout)):
        port = int(row[10].split(":")[2].split("/")[0])
        by_port[port].append(int(row[2]) / 1e6)
        failed[port] += not row[1].startswith("2")
    return {mode: (np.array(by_port[port]), failed[port]) for mode, port in ports.items()}


def during_publish(args: argparse.Namespace, cfg, targets: list[dict], rate: int, scratch: Path) -> dict:
    """vegeta at `rate` while `write_version` publishes a second version of the same size (in this process,
    as `movierec publish` would in its own), and 10 s after; returns the row (the run with the slowest
    response), with degraded and fallback counts over all of them."""
    variants = list(cfg.experiment.variants)
    data = synthetic_version("bench-next", args.users, args.movies, cfg.models.final_list_size, variants, args.seed + 2)
    published: dict = {}
    writer = threading.Thread(target=lambda: published.update(write_version(cfg, data)))
    started = time.perf_counter()
    writer.start()
    results = scratch / "during.bin"
    # As long as the publish is expected to take, measured by the first one; repeated while it goes on.
    rows = []
    while writer.is_alive() or not rows:
        report = attack(targets[:int(rate * 20)], rate, 20, scratch / "during.jsonl", results, bodies=True)
        rows.append((report, answers(results)))
    writer.join()
    # Past the manifest's re-read, so the flip to the new version is measured too.
    report = attack(targets[:int(rate * 10)], rate, 10, scratch / "during.jsonl", results, bodies=True)
    rows.append((report, answers(results)))
    report = max((r for r, _ in rows), key=lambda r: r["latencies"]["max"])
    counts = {"degraded": sum(c["degraded"] for _, c in rows), "fallback": sum(c["fallback"] for _, c in rows),
              "versions": sorted(set().union(*(c["versions"] for _, c in rows)))}
    requests = sum(r["requests"] for r, _ in rows)
    print(f"published version bench-next ({published.get('rows_per_second', 0):.0f} rows/s) in "
          f"{time.perf_counter() - started:.0f} s while serving {requests:,} requests", flush=True)
    return {**summary(f"{args.workers} workers, publishing", report), "target_rate": rate, **counts,
            "requests_during": requests}


if __name__ == "__main__":
    main()
