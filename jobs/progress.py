"""What a person following a run sees: a line when each step starts and one when it ends (seconds, rows in
and out), and for the long loops (generator fits, scoring on Spark, publishing) a bar on a terminal or, in a
log (Airflow's, or output redirected to a file), a line every `LOG_EVERY_SECONDS`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

if TYPE_CHECKING:
    from pyspark import StatusTracker
    from pyspark.sql import SparkSession

log = logging.getLogger("movierec.progress")
T = TypeVar("T")
LOG_EVERY_SECONDS = 30.0  # often enough to see a loop move in a log, rarely enough to read it
BAR_AFTER_SECONDS = 2.0   # a loop done sooner shows no bar
TICK_SECONDS = 1.0        # a shown bar's clock (and a Spark job's task count) is refreshed this often
# tqdm's bar without its rate: "2.46models/s" or "1.82s/models" says less than the count and the clock.
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}{postfix}]"
# What SparkContext.setJobGroup sets (as local properties of the calling thread).
JOB_GROUP_PROPERTIES = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")


class Progress:
    """Units done of `total` (None: not known) in a loop, as a context manager.

    On a terminal (stderr a TTY) a tqdm bar, once the loop has run `BAR_AFTER_SECONDS`, with log lines printed
    above it; otherwise a line every `LOG_EVERY_SECONDS` and a last one if any was logged. A thread of its own
    shows it, so `advance` costs the loop an addition (and tqdm's counter on a terminal). With `poll`, that thread
    asks it for (done, total) instead: Spark's tasks, which the driver counts.
    """

    def __init__(self, what: str, unit: str, total: int | None = None,
                 poll: Callable[[], tuple[int, int]] | None = None):
        self.what, self.unit, self.total, self.poll = what, unit, total, poll
        self.done, self.note, self.lines = 0, "", 0
        self._bar: tqdm | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._show, name=f"progress of {what}", daemon=True)
        self._exit = ExitStack()

    def __enter__(self) -> Progress:
        self._start = time.monotonic()
        if sys.stderr.isatty():
            self._bar = self._exit.enter_context(tqdm(
                total=self.total, desc=self.what, unit=self.unit, bar_format=BAR_FORMAT, file=sys.stderr,
                leave=False, dynamic_ncols=True, delay=BAR_AFTER_SECONDS))
            self._exit.callback(self._bar.clear)  # the bar goes; the step's end line says how it went
            self._exit.enter_context(logging_redirect_tqdm())
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._exit.close()
        if self.lines:
            self._count()
            self._log("done, ")

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def describe(self, note: str) -> None:
        """What the loop is on now (a generator's name), shown beside the count."""
        self.note = note
        if self._bar is not None:
            self._bar.set_postfix_str(note, refresh=False)

    def _show(self) -> None:
        every = TICK_SECONDS if self._bar is not None else LOG_EVERY_SECONDS
        while not self._stop.wait(every):
            self._count()
            if self._bar is None:
                self.lines += 1
                self._log()
            elif time.monotonic() - self._start >= BAR_AFTER_SECONDS:
                self._bar.refresh()

    def _count(self) -> None:
        if self.poll is None:
            return
        done, self.total = self.poll()
        if self._bar is not None:
            self._bar.total = self.total
        self.advance(done - self.done)

    def _log(self, prefix: str = "") -> None:
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        count = f"{self.done:,}/{self.total:,}" if self.total is not None else f"{self.done:,}"
        note = f", on {self.note}" if self.note and not prefix else ""
        log.info("%s: %s%s %s%s after %.0f s%s", self.what, prefix, count, self.unit, share,
                 time.monotonic() - self._start, note)


def track(items: Sequence[T], what: str, unit: str) -> Iterator[T]:
    """Yield `items`, counted by a `Progress` that shows the one being worked on (a generator's name)."""
    with Progress(what, unit, len(items)) as progress:
        for item in items:
            progress.describe(str(item))
            yield item
            progress.advance()


@contextmanager
def spark_tasks(spark: SparkSession, what: str) -> Iterator[None]:
    """Follow the Spark jobs the block starts (in a job group of their own): their tasks done out of tasks, read
    from the driver's status tracker, so the executors do nothing extra."""
    context = spark.sparkContext
    group = f"{what} {uuid.uuid4().hex[:8]}"
    before = {key: context.getLocalProperty(key) for key in JOB_GROUP_PROPERTIES}
    context.setJobGroup(group, what)
    try:
        with Progress(what, "tasks", poll=partial(tasks, context.statusTracker(), group)):
            yield
    finally:
        for key, value in before.items():
            context.setLocalProperty(key, value)


def tasks(tracker: StatusTracker, group: str) -> tuple[int, int]:
    """(tasks done, tasks) of the job group's stages that have run a task: stages Spark skips (their shuffle
    output reused) never run one, so they never hold the count short of its end."""
    stages = {stage for job in tracker.getJobIdsForGroup(group) if (info := tracker.getJobInfo(job))
              for stage in info.stageIds}
    done = total = 0
    for stage in filter(None, map(tracker.getStageInfo, stages)):
        if stage.numCompletedTasks or stage.numActiveTasks or stage.numFailedTasks:
            done, total = done + stage.numCompletedTasks, total + stage.numTasks
    return done, total


def run_step(name: str, step: Callable[..., dict], *args, timings: dict[str, float] | None = None) -> dict:
    """`step(*args)`, saying when it starts and when it ends, with its seconds and the rows it read and wrote
    (from its result); the seconds also go to `timings[name]`. bench/scale.py follows a run by these lines."""
    log.info("step %s started", name)
    start = time.perf_counter()
    try:
        result = step(*args)
    except BaseException:
        log.error("step %s failed after %.1f s", name, time.perf_counter() - start)
        raise
    seconds = time.perf_counter() - start
    if timings is not None:
        timings[name] = round(seconds, 2)
    rows = ROWS.get(name.split("_")[0])
    log.info("step %s finished in %.1f s%s", name, seconds, f": {rows(result)}" if rows else "")
    return result


def _ingest_rows(result: dict) -> str:
    tables = ", ".join(f"{name} {t['read']:,} -> {t['landed']:,}"
                       + (f" ({t['quarantined']:,} quarantined)" if t["quarantined"] else "")
                       for name, t in result["tables"].items())
    return f"rows read -> landed: {tables}"


def _backfill_rows(result: dict) -> str:
    events = sum(day["landed"].get("interactions", 0) for day in result["ingested"])
    return f"{len(result['ingested'])} days ingested ({events:,} events landed), {len(result['skipped'])} skipped"


def _features_rows(result: dict) -> str:
    return "rows written: " + ", ".join(f"{table} {rows:,}" for table, rows in result["rows"].items())


def _train_rows(result: dict) -> str:
    ranker = result["ranker"]
    labelled = (", the eval split's ranker" if ranker.get("from_split") == "eval"
                else f", ranker on {ranker['rows']:,} candidate rows" if "rows" in ranker else "")
    return (f"{result['train_events']:,} events in; models of {result['train_users']:,} users x "
            f"{result['items']:,} movies{labelled}")


def _score_rows(result: dict) -> str:
    extra = "".join(f", {result[table]:,} {table.replace('_', ' ')}" for table in ("candidates", "similar_movies")
                    if table in result)
    return f"{result['users']:,} users in; {result['ranked_lists']:,} ranked list rows{extra}"


def _evaluate_rows(result: dict) -> str:
    gates = result["gates"]
    failed = [c["gate"] for c in gates["checks"] if not c["passed"]]
    return (f"{result['protocol']['evaluated_users']:,} users evaluated; gates "
            + ("passed" if gates["passed"] else "failed: " + "; ".join(failed)))


def _publish_rows(result: dict) -> str:
    if not result["published"]:
        return f"not published ({result['reason']})"
    return (f"version {result['version']}: {result['lists']:,} lists, {result['similar_movies']:,} similar-movie "
            f"lists, {result['movie_cards']:,} movie cards written")


def _retention_rows(result: dict) -> str:
    return (f"removed {len(result['removed_runs'])} runs (kept {len(result['kept_runs'])}), "
            f"{sum(result['gold_rows_deleted'].values()):,} gold rows deleted")


# Each step's result, as the rows it read and wrote (by step name, without the split).
ROWS: dict[str, Callable[[dict[str, Any]], str]] = {
    "ingest": _ingest_rows, "backfill": _backfill_rows, "features": _features_rows, "train": _train_rows,
    "score": _score_rows, "evaluate": _evaluate_rows, "publish": _publish_rows, "retention": _retention_rows,
}
