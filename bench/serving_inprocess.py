"""Where a recommendations request's CPU goes inside the API process: the whole ASGI app, the store read alone, and
the app with the store read made inline (no hop to the reader's thread pool), in one run.

    .venv/bin/python bench/serving.py --skip-exposure-off        # publishes the synthetic version once
    .venv/bin/python bench/serving_inprocess.py [--workdir .workdir/bench-serving] [--requests 3000] [--runs 3]

Calls the app built by `serving.app.create_app` directly (ASGI scope in, messages out; no sockets, no HTTP parsing,
asyncio's own loop), for `GET /v1/users/{id}/recommendations?k=20` over the users `bench/serving.py` published, and
times `OnlineLists.user_list` (Feast's `online_read`, key encoding, proto decoding) on its own. "Inline" replaces the
reader's `run_in_executor` + `wait_for` with a direct call, for this measurement only: the product keeps the thread,
because it is what bounds a store read by `serving.store_timeout_ms`. Prints CPU microseconds per request
(process time, every thread), medians of `--runs` with min-max.
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
from serving.reader import Reader  # noqa: E402
from serving.store import OnlineLists, open_store  # noqa: E402


async def _inline(self, fn, *args, timeout=None):
    return fn(*args)


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
    original = Reader._call
    if inline:
        Reader._call = _inline
    try:
        app = create_app(cfg)
        async with app.router.lifespan_context(app):
            await app_cpu(app, users, 300)   # warm-up
            return [await app_cpu(app, users, n) for _ in range(runs)]
    finally:
        Reader._call = original


def read_cpu(cfg, users: range, n: int, runs: int) -> list[float]:
    lists = OnlineLists(open_store(cfg))
    manifest = lists.manifest()
    out = []
    for _ in range(runs + 1):
        start = time.process_time()
        for i in range(n):
            lists.user_list(manifest.version, manifest.arms[0], users[i % len(users)])
        out.append(1e6 * (time.process_time() - start) / n)
    return out[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=str(ROOT / ".workdir" / "bench-serving"))
    parser.add_argument("--users", type=int, default=20_000, help="as published by bench/serving.py")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cfg = load_config(overrides={"workdir": args.workdir, "serving": {"exposure_log": None}})
    users = range(0, int(args.users / 0.95))
    rows = {
        "app, store read on the reader's thread pool (as served)": asyncio.run(measure(cfg, users, args.requests, args.runs, False)),
        "store read alone (OnlineLists.user_list)": read_cpu(cfg, users, args.requests, args.runs),
        "app, store read inline (measurement only)": asyncio.run(measure(cfg, users, args.requests, args.runs, True)),
    }
    print(f"\nCPU us per request, {args.requests:,} requests a run, medians of {args.runs} (min-max)\n")
    for name, values in rows.items():
        print(f"  {name:<58} {statistics.median(values):7.0f} ({min(values):.0f}-{max(values):.0f})")


if __name__ == "__main__":
    main()
