"""The exposure log: what each recommendation response showed, appended off the request path.

A request adds one record to an in-memory buffer (a list append); a thread writes the buffer every
`flush_seconds` as JSON lines to `<dir>/dt=<UTC day>/exposures-<worker>.jsonl`, so files rotate by day and
each API process writes its own file (no locks between workers). Shutdown flushes what is left. A sink that
fails never fails a request: the records stay buffered (up to `max_buffer`, then the oldest are dropped) and
`movierec_exposure_errors` counts them. Ingest lands these files in `silver.exposures` (jobs/exposures.py).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from serving.metrics import Metrics


class FileSink:
    """Day-partitioned JSON lines under a folder: local disk, or a filesystem every API host mounts."""

    def __init__(self, directory: str | os.PathLike, worker: str) -> None:
        self.directory = Path(directory)
        self.worker = worker

    def write(self, day: str, lines: list[str]) -> None:
        folder = self.directory / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"exposures-{self.worker}.jsonl", "a", encoding="utf-8") as out:
            out.write("".join(lines))


class ExposureLog:
    def __init__(self, sink: FileSink | None, metrics: Metrics, flush_seconds: float = 1.0,
                 max_buffer: int = 100_000) -> None:
        self.sink = sink
        self.metrics = metrics
        self.flush_seconds = flush_seconds
        self.max_buffer = max_buffer
        self._buffer: list[tuple] = []
        self._lock = threading.Lock()
        self._token = uuid.uuid4().hex[:12]     # exposure ids: this process's token + a counter, unique across workers
        self._seq = 0

    def record(self, user_id: int, experiment: str, assigned: str, served: str, version: str, context: str,
               movie_ids: list[int], fallback: bool, degraded: bool) -> None:
        """Called on the request path: a tuple appended, nothing encoded or written here."""
        if self.sink is None:
            return
        with self._lock:   # uncontended but for the moment a flush swaps the buffer
            self._seq += 1
            self._buffer.append((f"{self._token}-{self._seq:x}", time.time(), user_id, experiment, assigned, served,
                                 version, context, movie_ids, fallback, degraded))

    def flush(self) -> int:
        """Write what is buffered; return the records written (0 when the sink failed: they stay buffered)."""
        if self.sink is None:
            return 0
        with self._lock:
            taken, self._buffer = self._buffer, []
        if not taken:
            return 0
        by_day: dict[str, list[str]] = {}
        for record in taken:
            by_day.setdefault(_day(record[1]), []).append(_line(record))
        done: set[str] = set()
        try:
            for day, lines in by_day.items():
                self.sink.write(day, lines)
                done.add(day)
        except Exception:  # noqa: BLE001  any sink failure: keep the records, count, carry on serving
            unwritten = [r for r in taken if _day(r[1]) not in done]
            self.metrics.exposure_errors.labels("sink").inc(len(unwritten))
            with self._lock:
                kept = unwritten + self._buffer
                dropped = max(0, len(kept) - self.max_buffer)
                self._buffer = kept[dropped:]
            if dropped:
                self.metrics.exposure_errors.labels("dropped").inc(dropped)
        written = sum(len(by_day[day]) for day in done)
        if written:
            self.metrics.exposures.inc(written)
        return written

    @contextmanager
    def running(self) -> Iterator[ExposureLog]:
        """Flush every `flush_seconds` on a thread while the block runs, and once more when it ends."""
        if self.sink is None:
            yield self
            return
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.flush_seconds):
                self.flush()

        thread = threading.Thread(target=loop, name="exposure-log", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.flush()


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")


def _line(record: tuple) -> str:
    exposure_id, ts, user_id, experiment, assigned, served, version, context, movie_ids, fallback, degraded = record
    return json.dumps({
        "exposure_id": exposure_id,
        "served_at": datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds"),
        "user_id": user_id, "experiment": experiment, "variant": assigned, "served_variant": served,
        "version": version, "context": context,
        "movie_ids": movie_ids, "fallback": fallback, "degraded": degraded,
    }, separators=(",", ":")) + "\n"
