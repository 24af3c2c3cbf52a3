"""Store reads for the API: each under a deadline; the manifest re-read every few seconds off the request
path, with the fallback lists of its version kept beside it, so a failing store still gets an answer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from serving.metrics import Metrics
from serving.store import FALLBACK, ItemList, Manifest, MovieCard, OnlineLists


STARTUP_TIMEOUT_SECONDS = 30.0


class StoreUnavailable(Exception):
    """The online store failed or did not answer within the timeout."""


@dataclass(frozen=True)
class Published:
    """What is live, read together: a request takes one and serves its version only, fallback included."""

    manifest: Manifest
    fallbacks: dict[str, ItemList]
    # Segment and genre lists of this version, read once when first asked for: (variant, user key) -> list.
    audiences: dict[tuple[str, str], ItemList] = field(default_factory=dict)


class Reader:
    def __init__(self, lists: OnlineLists, ttl_seconds: float, timeout_seconds: float, metrics: Metrics) -> None:
        self.lists = lists
        self.ttl = ttl_seconds
        self.timeout = timeout_seconds
        self.metrics = metrics
        self.pool: ThreadPoolExecutor | None = None
        self.published: Published | None = None
        self.checked_at = float("-inf")
        self.store_ok = False
        self._refresh = asyncio.Lock()
        # A request's read stays on the event loop's thread where the store allows it: SQLite inline (a 2 ms budget,
        # no waiting on a lock), Redis awaited (serving.redis_pipeline). The hop to the pool cost more CPU than the read
        # (README, Serving); test doubles use it still.
        self.inline = isinstance(lists, OnlineLists) and lists.reads_inline
        self.awaits = isinstance(lists, OnlineLists) and lists.reads_async

    async def _call(self, fn, *args, timeout: float | None = None):
        loop = asyncio.get_running_loop()
        return await self._bounded(loop.run_in_executor(self.pool, partial(fn, *args)), timeout)

    async def _bounded(self, awaitable, timeout: float | None = None):
        """`awaitable`'s result, or StoreUnavailable when it failed or took longer than the deadline."""
        timeout = timeout or self.timeout
        try:
            async with asyncio.timeout(timeout):
                return await awaitable
        except TimeoutError as exc:
            self.metrics.store_errors.labels("timeout").inc()
            raise StoreUnavailable(f"online store did not answer within {timeout * 1000:.0f} ms") from exc
        except Exception as exc:  # any client error (connection refused, locked DB, ...) means the same to a reader
            self.metrics.store_errors.labels("error").inc()
            raise StoreUnavailable(f"online store read failed: {type(exc).__name__}: {exc}") from exc

    @property
    def manifest(self) -> Manifest | None:
        return self.published.manifest if self.published else None

    async def current(self) -> Published | None:
        """What is live. `poll` keeps it fresh; only while nothing is known yet (nothing published, or a store
        down since start-up) does a request read the store for it, at most once per `ttl`."""
        if self.published is None and time.monotonic() - self.checked_at > self.ttl:
            async with self._refresh:
                if self.published is None and time.monotonic() - self.checked_at > self.ttl:
                    await self.refresh()
        return self.published

    async def refresh(self, timeout: float | None = None) -> None:
        """Re-read the manifest, and the fallback lists when the version changed. `timeout` overrides the
        per-read deadline (the first read loads the Feast registry: a start-up cost, not a slow store)."""
        try:
            manifest = await self._call(self.lists.manifest, timeout=timeout)
            if manifest is None:
                self.published = None
            elif self.published is None or manifest.version != self.published.manifest.version:
                fallbacks = {variant: await self._call(self.lists.user_list, manifest.version, variant, FALLBACK,
                                                       timeout=timeout)
                             for variant in manifest.arms}
                self.published = Published(manifest, fallbacks)
            self.store_ok = True
        except StoreUnavailable:
            self.store_ok = False
        finally:
            self.checked_at = time.monotonic()

    async def poll(self) -> None:
        """Re-read the manifest every `ttl` seconds, for as long as the app runs."""
        while True:
            await asyncio.sleep(self.ttl)
            await self.refresh()

    async def _read(self, name: str, *args):
        """A request's read of `self.lists.<name>`, under the deadline, which also counts the failures: awaited on
        the event loop (Redis); inline (SQLite), and when that gave up (a locked database, a slow read, any error)
        on the pool; else on the pool."""
        if self.awaits:
            return await self._bounded(getattr(self.lists, f"{name}_async")(*args))
        if self.inline:
            try:
                return getattr(self.lists, name)(*args, inline=True)
            except Exception:  # the pool's read below answers, or raises StoreUnavailable
                pass
        return await self._call(getattr(self.lists, name), *args)

    async def user_list(self, manifest: Manifest, variant: str, user_id: int) -> ItemList | None:
        return await self._read("user_list", manifest.version, variant, user_id)

    async def audience_list(self, live: Published, variant: str, key: str) -> ItemList | None:
        """A segment or genre list (models/segments.py) of `live`'s version: from the version's cache, else the
        store. There are a few hundred, the same for every user: after its first read a list costs nothing."""
        found = live.audiences.get((variant, key))
        if found is None:
            found = await self._read("user_list", live.manifest.version, variant, key)
            if found is not None:
                live.audiences[(variant, key)] = found
        return found

    async def similar(self, manifest: Manifest, movie_id: int) -> ItemList | None:
        return await self._read("similar", manifest.version, movie_id)

    async def card(self, manifest: Manifest, movie_id: int) -> MovieCard | None:
        return await self._read("card", manifest.version, movie_id)

    def start(self) -> None:
        # Store clients block; a small pool keeps a slow read from holding the event loop.
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="store")

    @contextlib.asynccontextmanager
    async def running(self):
        """Started, loaded (or knowing that nothing is published) and polling, until the block ends."""
        self.start()
        await self.refresh(timeout=STARTUP_TIMEOUT_SECONDS)  # loads the registry and the fallback cache
        poller = asyncio.create_task(self.poll())
        try:
            yield self
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            self.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
