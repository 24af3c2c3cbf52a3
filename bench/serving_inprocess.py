"""Where a recommendations request's CPU goes inside the API process: the whole ASGI app as served (SQLite reads inline
on the event loop's thread), the same app with every read on the reader's thread pool, and the store read alone.

    .venv/bin/python bench/serving.py --skip-exposure-off        # publishes the synthetic version once
    .venv/bin/python bench/serving_inprocess.py [--workdir .workdir/bench-serving] [--requests 3000] [--runs 3]
    .venv/bin/python bench/serving_inprocess.py --redis [--users 20000]   # Redis reads, on a redis-server it starts

Calls the app built by `serving.app.create_app` directly (ASGI scope in, messages out; no sockets, no HTTP parsing,
asyncio's own loop), for `GET /v1/users/{id}/recommendations?k=20` over the users `bench/serving.py` published, and
times `OnlineLists.user_list` through Feast's `online_read` (key encoding, SQL, proto decoding) and inline
(`serving.store.SqliteRows`) on its own. "On the pool" turns the inline reads off (`OnlineLists.reads_inline`), as
every read was before 2026-11-29: `run_in_executor` under `wait_for`. Prints CPU microseconds per request (process
time, every thread), medians of `--runs` with min-max.

With `--redis` it publishes the same synthetic version into a redis-server it starts and times a Redis read on its
own, awaited on uvloop (uvicorn's loop): through the pipelined connection the API uses (`serving.redis_pipeline`),
through redis-py's asyncio client (as before, and still for a cluster or sentinel), and Feast's blocking
`online_read`; then the app as served from Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FEAST_USAGE", "False")

from conf import load_config  # noqa: E402
from serving.app import create_app  # noqa: E402
from serving.store import FALLBACK, InlineGaveUp, OnlineLists, RedisRows, open_store  # noqa: E402


async def app_cpu(app, users: range, n: int) -> float:
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    start = time.process_time()
    for i in range(n):
        scope = {"type": "http", "method": "GET", "path": f"/v1/users/{users[i % len(users)]}/recommendations",
                 "raw_path": b"", "query_string": b"k=20", "headers": [(b"host", b"bench")], "http_version": "1.1",
                 "scheme": "http", "server": ("bench", 80), "client": ("bench", 1), "root_path": "", "app": app}
        await app(scope, receive, send)
    return 1e6 * (time.process_time() - start) / n


async def measure(cfg, users: range, n: int, runs: int, inline: bool) -> list[float]:
    original = OnlineLists.reads_inline
    if not inline:
        OnlineLists.reads_inline = property(lambda self: False)
    try:
        app = create_app(cfg)
        async with app.router.lifespan_context(app):
            await app_cpu(app, users, 300)   # warm-up
            return [await app_cpu(app, users, n) for _ in range(runs)]
    finally:
        OnlineLists.reads_inline = original


def read_cpu(cfg, users: range, n: int, runs: int, inline: bool) -> list[float]:
    lists = OnlineLists(open_store(cfg))
    manifest = lists.manifest()
    lists.user_list(manifest.version, manifest.arms[0], FALLBACK)   # loads the version's catalogue, as the app's refresh does
    k = cfg.serving.default_k
    out, gave_up = [], 0
    for _ in range(runs + 1):
        start = time.process_time()
        for i in range(n):
            try:
                found = lists.user_list(manifest.version, manifest.arms[0], users[i % len(users)], inline=inline)
                if found is not None:
                    found.items[:k]   # what a request serves of it
            except InlineGaveUp:   # the app would read it again on the pool
                gave_up += 1
        out.append(1e6 * (time.process_time() - start) / n)
    if gave_up:
        print(f"  inline reads that gave up: {gave_up:,} of {n * (runs + 1):,}")
    return out[1:]


async def awaited_read_cpu(cfg, users: range, n: int, runs: int, pipelined: bool) -> list[float]:
    original = RedisRows.pipelined
    if not pipelined:
        RedisRows.pipelined = property(lambda self: False)
    try:
        lists = OnlineLists(open_store(cfg))
        manifest = lists.manifest()
        out = []
        for _ in range(runs + 1):
            start = time.process_time()
            for i in range(n):
                found = await lists.user_list_async(manifest.version, manifest.arms[0], users[i % len(users)])
                if found is not None:
                    found.items[:cfg.serving.default_k]   # what a request serves of it
            out.append(1e6 * (time.process_time() - start) / n)
        return out[1:]
    finally:
        RedisRows.pipelined = original


def redis_rows(args, users: range) -> dict[str, list[float]]:
    import tempfile

    import uvloop

    from bench.publish import start_redis
    from bench.serving import synthetic_version
    from jobs.publish import write_version

    process, port = start_redis(Path(tempfile.mkdtemp(prefix="bench-redis-")))
    try:
        cfg = load_config(overrides={"workdir": tempfile.mkdtemp(prefix="bench-inprocess-"), "serving": {"exposure_log": None},
                                     "feast": {"online_store": "redis", "redis_connection": f"127.0.0.1:{port}"}})
        write_version(cfg, synthetic_version("bench", args.users, 5_000, cfg.models.final_list_size,
                                             list(cfg.experiment.variants), 7))
        return {
            "Redis read alone, pipelined connection (as served)":
                uvloop.run(awaited_read_cpu(cfg, users, args.requests, args.runs, True)),
            "Redis read alone, redis-py's asyncio client":
                uvloop.run(awaited_read_cpu(cfg, users, args.requests, args.runs, False)),
            "Redis read alone, Feast's online_read (blocking)": read_cpu(cfg, users, args.requests, args.runs, False),
            "app as served from Redis": uvloop.run(measure(cfg, users, args.requests, args.runs, True)),
        }
    finally:
        process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=str(ROOT / ".workdir" / "bench-serving"))
    parser.add_argument("--users", type=int, default=20_000, help="as published by bench/serving.py")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis", action="store_true", help="time Redis reads instead (publishes to a redis-server)")
    args = parser.parse_args()
    users = range(0, int(args.users / 0.95))
    if args.redis:
        report(args, redis_rows(args, users))
        return
    cfg = load_config(overrides={"workdir": args.workdir, "serving": {"exposure_log": None}})
    rows = {
        "app as served (SQLite reads inline)": asyncio.run(measure(cfg, users, args.requests, args.runs, True)),
        "app with every read on the thread pool": asyncio.run(measure(cfg, users, args.requests, args.runs, False)),
        "store read alone, inline (SqliteRows)": read_cpu(cfg, users, args.requests, args.runs, True),
        "store read alone, Feast's online_read": read_cpu(cfg, users, args.requests, args.runs, False),
    }
    report(args, rows)


def report(args, rows: dict[str, list[float]]) -> None:
    print(f"\nCPU us per request, {args.requests:,} requests a run, medians of {args.runs} (min-max)\n")
    for name, values in rows.items():
        print(f"  {name:<58} {statistics.median(values):7.0f} ({min(values):.0f}-{max(values):.0f})")


if __name__ == "__main__":
    main()
