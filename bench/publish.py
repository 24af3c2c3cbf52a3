"""Publishing at scale: rows/s and the driver's peak memory of the publish step's own write path, into
SQLite and into a redis-server this bench starts.

    .venv/bin/python bench/publish.py [--users 200000] [--runs 3] [--stores sqlite,redis]
        [--chunk-rows N] [--write-rows N]

1. Per store, `--runs` publishes, each in a fresh process (so its peak RSS is its own). Spark starts and
   generates a synthetic version as DataFrames (no pipeline run): `--users` users x 2 variants
   (+ a fallback list each) of `--items` items with the card fields the pipeline publishes
   (titles, years, genres, posters, reasons, slots), similar movies and movie cards for `--movies`
   movies; `jobs.publish.stage` writes them as parquet in hash buckets of `publish.chunk_rows` keys.
2. Then, measured, `jobs.publish.write_version` streams the buckets to the store and its snapshot
   folder, flips the manifest and prunes. Each run publishes a new version into the same store with
   `publish.keep_versions = 2`, as scheduled publishes do: from the third run on, a version is
   pruned after the new one is written beside the kept ones.
3. Prints, per run, rows/s (all views; the lists alone), seconds, the largest chunk, prune seconds,
   and the peak RSS of the driver's Python process (and its RSS with Feast loaded, before the first
   row) and of its JVM during the publish (sampled every 0.1 s); then the median and the range over
   the runs.

Staging (here: generating; in the pipeline: aggregating the gold tables into lists) is timed apart
and not in rows/s. The redis-server (no persistence) runs on a free loopback port.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import start_redis_server  # noqa: E402

MB = 1024 * 1024
GENRES = ["Action", "Adventure", "Animation", "Comedy", "Crime", "Drama", "Family", "Fantasy", "Horror", "Mystery",
          "Romance", "Science Fiction", "Thriller", "War", "Western"]
VIEWS = ("user_recommendations", "similar_movies", "movie_cards")
REASON_TITLES = 12


def bench_config(workdir: Path, store: str, redis_port: int | None, chunk_rows: int | None, write_rows: int | None):
    from conf import load_config

    feast = {"online_store": store}
    if redis_port is not None:
        feast["redis_connection"] = f"127.0.0.1:{redis_port}"
    publish = {"keep_versions": 2, **({"chunk_rows": chunk_rows} if chunk_rows else {}),
               **({"write_rows": write_rows} if write_rows else {})}
    return load_config(None, {"workdir": str(workdir), "feast": feast, "publish": publish})


def _picks(seed_columns: list, count: int, movies: int, seed: int):
    """`count` movie ids per row from a long-tailed popularity (a few movies in many lists)."""
    from pyspark.sql import functions as F

    def pick(i):
        unit = F.pmod(F.xxhash64(*seed_columns, i, F.lit(seed)), F.lit(1_000_003)) / F.lit(1_000_003.0)
        return (F.lit(1) + F.floor(F.lit(movies) * F.pow(unit, F.lit(2.5)))).cast("long")

    return F.transform(F.sequence(F.lit(0), F.lit(count - 1)), pick)


def _scored(ids):
    from pyspark.sql import functions as F

    return [ids.alias("movie_ids"),
            F.transform(ids, lambda m, i: (F.lit(1.0) - i / F.lit(100.0)).cast("float")).alias("scores")]


def _item_cards(ids):
    """The card fields of each item of a similar-movies list, as the pipeline's carry them."""
    from pyspark.sql import functions as F

    genres = F.array(*[F.lit(g) for g in GENRES])
    return [
        *_scored(ids),
        F.transform(ids, lambda m: F.concat(F.lit("Synthetic Movie Title "), m.cast("string"))).alias("titles"),
        F.transform(ids, lambda m: F.lit(1950) + F.pmod(m * 37, F.lit(77))).cast("array<long>").alias("years"),
        F.transform(ids, lambda m: F.concat_ws("|", F.element_at(genres, (F.pmod(m, F.lit(15)) + 1).cast("int")),
                                               F.element_at(genres, (F.pmod(m * 7, F.lit(15)) + 1).cast("int")))).alias("genres"),
        F.transform(ids, lambda m: F.concat(F.lit("/t/p/poster"), m.cast("string"), F.lit("abcdef.jpg"))).alias("poster_paths"),
    ]


def synthetic_frames(spark, name: str, users: int, movies: int, items: int, variants: list[str], seed: int) -> dict:
    """The three published views of a synthetic version, keyed like the pipeline's."""
    from pyspark.sql import functions as F

    from serving.store import FALLBACK

    user = F.col("id")
    variant = F.explode(F.array(*[F.lit(v) for v in variants])).alias("variant")
    keyed = spark.range(users + 1).select(user, variant)  # the last user stands for the fallback list
    ids = _picks([F.col("id"), F.col("variant")], items, movies, seed)
    # Each item's reason names one of the user's REASON_TITLES recent titles: the 100,000-user scale run's final lists
    # had 12.5 distinct reasons in 50 items.
    watched = _picks([F.col("id")], REASON_TITLES, movies, seed + 1)
    lists = keyed.select(
        F.concat(F.lit(f"{name}:"), "variant", F.lit(":"),
                 F.when(user == users, F.lit(FALLBACK)).otherwise(user.cast("string"))).alias("list_key"),
        *_scored(ids),
        F.transform(ids, lambda m, i: F.concat(F.lit("Because you watched Synthetic Movie Title "), F.element_at(
            watched, (F.pmod(i, F.lit(REASON_TITLES)) + 1).cast("int")).cast("string"))).alias("reasons"),
        F.transform(ids, lambda m, i: F.element_at(F.array(F.lit("similar"), F.lit("diverse"), F.lit("trending")),
                                                   (F.pmod(i, F.lit(3)) + 1).cast("int"))).alias("slots"),
        F.lit(time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())).alias("generated_at"),
    )
    catalog = spark.range(1, movies + 1).withColumnRenamed("id", "movie_id")
    movie_key = F.concat(F.lit(f"{name}:"), F.col("movie_id").cast("string")).alias("movie_key")
    similar = catalog.select(movie_key, *_item_cards(_picks([F.col("movie_id")], 20, movies, seed + 2)))
    genres = F.array(*[F.lit(g) for g in GENRES])
    cards = catalog.select(
        movie_key,
        F.concat(F.lit("Synthetic Movie Title "), F.col("movie_id").cast("string")).alias("title"),
        (F.lit(1950) + F.pmod(F.col("movie_id") * 37, F.lit(77))).cast("long").alias("year"),
        F.array(F.element_at(genres, (F.pmod("movie_id", F.lit(15)) + 1).cast("int"))).alias("genres"),
        F.lit("A synthetic movie: an overview about as long as a TMDB one, which runs to a sentence or two "
              "of plot, a setting and a hook.").alias("overview"),
        F.lit(104.0).alias("runtime"), F.lit(6.4).alias("vote_average"),
        F.concat(F.lit("/t/p/poster"), F.col("movie_id").cast("string"), F.lit("abcdef.jpg")).alias("poster_path"),
        F.lit("Some Director").alias("director"),
    )
    return {"user_recommendations": (lists, "list_key"), "similar_movies": (similar, "movie_key"),
            "movie_cards": (cards, "movie_key")}


class Sampler:
    """Peak resident memory of this process and of its JVM, polled in a thread."""

    def __init__(self, jvm_pid: int | None, every: float = 0.1) -> None:
        import psutil

        self.me = psutil.Process()
        self.jvm = psutil.Process(jvm_pid) if jvm_pid else None
        self.every = every
        self.peak_python = self.peak_jvm = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_python = max(self.peak_python, self.me.memory_info().rss / MB)
            if self.jvm is not None:
                self.peak_jvm = max(self.peak_jvm, self.jvm.memory_info().rss / MB)
            time.sleep(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def worker(args) -> None:
    """Stage one synthetic version, then publish it with the publish step's code; print the measurements of the
    publish as one JSON line."""
    os.environ.setdefault("FEAST_USAGE", "False")
    import psutil

    from features.repo import definitions
    from jobs.publish import Version, stage, write_version
    from jobs.spark import get_spark
    from serving.store import open_store, write_repo_files

    workdir = Path(args.workdir)
    cfg = bench_config(workdir, args.store, args.redis_port, args.chunk_rows, args.write_rows)
    spark = get_spark(cfg)
    name = f"bench-{args.run}"
    frames = synthetic_frames(spark, name, args.users, args.movies, args.items, list(cfg.experiment.variants), args.seed)
    start = time.perf_counter()
    staged = {view: stage(frame, key, str(workdir / "staged" / view), cfg.publish.chunk_rows)
              for view, (frame, key) in frames.items()}
    stage_seconds = time.perf_counter() - start
    gateway = getattr(spark.sparkContext._gateway, "proc", None)
    # Feast's imports and registry are most of the driver's memory before any row: loaded first, so the
    # baseline holds them and the peak's growth over it is what the rows cost.
    write_repo_files(cfg)
    open_store(cfg).apply(definitions(cfg))
    before = psutil.Process().memory_info().rss / MB
    with Sampler(gateway.pid if gateway else None) as sampler:
        start = time.perf_counter()
        result = write_version(cfg, Version(name, *(staged[v] for v in VIEWS)))
        wall = time.perf_counter() - start
    lists = result["views"]["user_recommendations"]
    print(json.dumps({
        "store": args.store, "run": args.run, "stage_seconds": round(stage_seconds, 1), "wall_seconds": round(wall, 1),
        "rows_per_second": result["rows_per_second"], "lists_rows_per_second": lists["rows_per_second"],
        "lists_store_share": round(lists["store_seconds"] / lists["seconds"], 2),
        "rows": sum(v["rows"] for v in result["views"].values()), "list_chunks": lists["chunks"],
        "largest_chunk": max(v["largest_chunk"] for v in result["views"].values()),
        "pruned": result["pruned"], "pruned_rows": result["pruned_rows"], "prune_seconds": result["prune_seconds"],
        "python_rss_before_mb": round(before), "python_peak_rss_mb": round(sampler.peak_python),
        "jvm_peak_rss_mb": round(sampler.peak_jvm),
    }), flush=True)
    spark.stop()
    shutil.rmtree(workdir / "staged", ignore_errors=True)


def start_redis(folder: Path) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed: `make sysdeps`")
    folder.mkdir(parents=True, exist_ok=True)
    return start_redis_server(binary, folder)


def run_store(args, workdir: Path, store: str) -> list[dict]:
    redis, port = (None, None)
    if store == "redis":
        redis, port = start_redis(workdir / "redis")
    try:
        results = []
        for run in range(1, args.runs + 1):
            command = [sys.executable, __file__, "--worker", "--store", store, "--run", str(run),
                       "--workdir", str(workdir / store), "--users", str(args.users), "--movies", str(args.movies),
                       "--items", str(args.items), "--seed", str(args.seed + run),
                       *(["--chunk-rows", str(args.chunk_rows)] if args.chunk_rows else []),
                       *(["--write-rows", str(args.write_rows)] if args.write_rows else []),
                       *(["--redis-port", str(port)] if port else [])]
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "FEAST_USAGE": "False"})
            if done.returncode != 0:
                sys.exit(f"{store} run {run} failed:\n{done.stderr[-4000:]}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            if port:
                import redis as client

                results[-1]["redis_used_memory_mb"] = round(client.Redis(port=port).info("memory")["used_memory"] / MB)
            print(json.dumps(results[-1]), flush=True)
        if store == "sqlite":
            size = sum(f.stat().st_size for f in (workdir / store / "feast").glob("online_store.db*"))
            print(f"sqlite file after {args.runs} runs (keep_versions 2): {size / MB:,.0f} MB", flush=True)
        return results
    finally:
        if redis is not None:
            redis.kill()
            redis.wait(10)


def summary(store: str, results: list[dict]) -> str:
    def spread(name: str, unit: str = "", digits: int = 0) -> str:
        values = [r[name] for r in results]
        return (f"{statistics.median(values):,.{digits}f}{unit} "
                f"(range {min(values):,.{digits}f}-{max(values):,.{digits}f})")

    unit = "keys" if store == "redis" else "rows"
    prunes = ", ".join(f"{r['prune_seconds']:.1f} s ({r['pruned_rows']:,} {unit})" for r in results if r["pruned"])
    return (f"{store:<7} n={len(results)}: {spread('rows_per_second', ' rows/s')}, lists alone "
            f"{spread('lists_rows_per_second', ' rows/s')}; publish wall {spread('wall_seconds', ' s', 1)}; "
            f"peak RSS python {spread('python_peak_rss_mb', ' MB')} (Feast loaded, before publishing "
            f"{spread('python_rss_before_mb', ' MB')}), JVM {spread('jvm_peak_rss_mb', ' MB')}; largest chunk "
            f"{max(r['largest_chunk'] for r in results):,} rows; prune of one version: {prunes or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(ROOT / ".workdir" / "bench-publish"))
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--movies", type=int, default=5_000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stores", default="sqlite,redis")
    parser.add_argument("--chunk-rows", type=int, default=None, help="default: publish.chunk_rows")
    parser.add_argument("--write-rows", type=int, default=None, help="default: publish.write_rows")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--redis-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    results = {store: run_store(args, workdir, store) for store in args.stores.split(",")}
    print(f"\n{args.users:,} users x 2 variants x {args.items} items, {args.movies:,} movies; {args.runs} publishes per "
          f"store, each a fresh process on this {os.cpu_count()}-core machine")
    for store, runs in results.items():
        print(summary(store, runs))


if __name__ == "__main__":
    main()
