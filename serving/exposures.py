"""The exposure log: what each recommendation response showed, appended off the request path.

A request encodes its record as one JSON line (about 6 microseconds) and appends it to an in-memory buffer; a
thread writes the buffer every `flush_seconds` to `<dir>/dt=<UTC day>/exposures-<worker>.jsonl`, so files rotate
by day and each API process writes its own file (no locks between workers). The thread only joins and writes
(the write releases the GIL): encoding a second's records there held the GIL while requests waited, and p99 at
500 requests/s was 1.3x that with the log off (bench/serving.py). Shutdown flushes what is left. A sink that
fails never fails a request: the records stay buffered (up to `max_buffer`; past it new records are dropped) and
`movierec_exposure_errors` counts the failed flushes (sink) and the records lost (dropped). Ingest lands these
files in `silver.exposures` (jobs/exposures.py).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from serving.metrics import Metrics

log = logging.getLogger("movierec.exposures")


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
        """Called on the request path: the record is encoded here (a few microseconds) and appended; the flush
        thread then only joins and writes, so it holds the GIL for microseconds, never while a request waits."""
        if self.sink is None:
            return
        now = time.time()
        with self._lock:   # uncontended but for the moment a flush swaps the buffer
            if len(self._buffer) >= self.max_buffer:      # a sink that hangs: the buffer stays bounded
                self.metrics.exposure_errors.labels("dropped").inc()
                return
            self._seq += 1
            self._buffer.append((_day(now), _line(f"{self._token}-{self._seq:x}", now, user_id, experiment, assigned,
                                                  served, version, context, movie_ids, fallback, degraded)))

    def flush(self) -> int:
        """Write what is buffered; return the records written (0 when the sink failed: they stay buffered)."""
        if self.sink is None:
            return 0
        with self._lock:
            taken, self._buffer = self._buffer, []
        if not taken:
            return 0
        by_day: dict[str, list[str]] = {}
        for day, line in taken:
            by_day.setdefault(day, []).append(line)
        done: set[str] = set()
        try:
            for day, lines in by_day.items():
                self.sink.write(day, lines)
                done.add(day)
        except Exception:  # noqa: BLE001  any sink failure: keep the records, count, carry on serving
            unwritten = [r for r in taken if r[0] not in done]
            self.metrics.exposure_errors.labels("sink").inc()    # failed flushes; the records are retried
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
                try:
                    self.flush()
                except Exception:  # noqa: BLE001  the thread must outlive any one flush
                    log.exception("exposure log flush failed; retrying in %.1f s", self.flush_seconds)

        thread = threading.Thread(target=loop, name="exposure-log", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.flush()
            if self._buffer:
                log.error("exposure log: %d records could not be written before shutdown", len(self._buffer))


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def _line(exposure_id: str, ts: float, user_id: int, experiment: str, assigned: str, served: str, version: str,
          context: str, movie_ids: list[int], fallback: bool, degraded: bool) -> str:
    """One JSON line, formatted directly (3x json.dumps of a dict); free text goes through json.dumps."""
    served_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}+00:00"
    return (f'{{"exposure_id":"{exposure_id}","served_at":"{served_at}","user_id":{int(user_id)},'
            f'"experiment":{json.dumps(experiment)},"variant":{json.dumps(assigned)},"served_variant":{json.dumps(served)},'
            f'"version":{json.dumps(version)},"context":{json.dumps(context)},"movie_ids":[{",".join(map(str, movie_ids))}],'
            f'"fallback":{"true" if fallback else "false"},"degraded":{"true" if degraded else "false"}}}\n')
