"""Store reads for the API: each under a deadline, the manifest re-read every few seconds, and the
fallback lists of the current version kept in memory so a failing store still gets an answer."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from serving.metrics import Metrics
from serving.store import FALLBACK, ItemList, Manifest, MovieCard, OnlineLists


class StoreUnavailable(Exception):
    """The online store failed or did not answer within the timeout."""


class Reader:
    def __init__(self, lists: OnlineLists, ttl_seconds: float, timeout_seconds: float, metrics: Metrics) -> None:
        self.lists = lists
        self.ttl = ttl_seconds
        self.timeout = timeout_seconds
        self.metrics = metrics
        self.pool: ThreadPoolExecutor | None = None
        self.manifest: Manifest | None = None
        self.fallbacks: dict[str, ItemList] = {}
        self.checked_at = float("-inf")
        self.store_ok = False
        self._refresh = asyncio.Lock()

    async def _call(self, fn, *args, timeout: float | None = None):
        loop = asyncio.get_running_loop()
        timeout = timeout or self.timeout
        try:
            return await asyncio.wait_for(loop.run_in_executor(self.pool, partial(fn, *args)), timeout)
        except TimeoutError as exc:
            self.metrics.store_errors.labels("timeout").inc()
            raise StoreUnavailable(f"online store did not answer within {timeout * 1000:.0f} ms") from exc
        except Exception as exc:  # any client error (connection refused, locked DB, ...) means the same to a reader
            self.metrics.store_errors.labels("error").inc()
            raise StoreUnavailable(f"online store read failed: {type(exc).__name__}: {exc}") from exc

    async def current(self) -> Manifest | None:
        """The published manifest, re-read every `ttl` seconds (at once while none is known); the last one
        seen while the store is down."""
        if self.manifest is not None and time.monotonic() - self.checked_at <= self.ttl:
            return self.manifest
        async with self._refresh:
            if self.manifest is None or time.monotonic() - self.checked_at > self.ttl:
                await self.refresh()
        return self.manifest

    async def refresh(self, timeout: float | None = None) -> None:
        """Re-read the manifest, and the fallback lists when the version changed. `timeout` overrides the
        per-read deadline (the first read loads the Feast registry: a start-up cost, not a slow store)."""
        try:
            manifest = await self._call(self.lists.manifest, timeout=timeout)
            if manifest is not None and (self.manifest is None or manifest.version != self.manifest.version):
                self.fallbacks = {variant: await self._call(self.lists.user_list, manifest.version, variant, FALLBACK,
                                                            timeout=timeout)
                                  for variant in manifest.variants}
            self.manifest = manifest
            self.store_ok = True
        except StoreUnavailable:
            self.store_ok = False
        finally:
            self.checked_at = time.monotonic()

    async def user_list(self, manifest: Manifest, variant: str, user_id: int) -> ItemList | None:
        return await self._call(self.lists.user_list, manifest.version, variant, user_id)

    async def similar(self, manifest: Manifest, movie_id: int) -> ItemList | None:
        return await self._call(self.lists.similar, manifest.version, movie_id)

    async def card(self, manifest: Manifest, movie_id: int) -> MovieCard | None:
        return await self._call(self.lists.card, manifest.version, movie_id)

    def start(self) -> None:
        # Store clients block; a small pool keeps a slow read from holding the event loop.
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="store")

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
