"""What a person following a run sees: bars on a terminal, periodic lines in a log, a start and an end line per
step, and none of Spark's or other libraries' chatter unless --verbose."""

import io
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs import progress
from jobs.progress import Progress, run_step, track

ROOT = Path(__file__).resolve().parents[2]
STEP_LINE = re.compile(r"step (\w+) (started|finished)")  # bench/scale.py follows a run by these


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def quick(monkeypatch):
    """Intervals short enough for a test to see several."""
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.05)
    monkeypatch.setattr(progress, "BAR_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(progress, "TICK_SECONDS", 0.02)


def test_on_a_terminal_a_bar_shows_the_count_and_the_item_and_log_lines_print_above_it(quick, monkeypatch, caplog):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    other = logging.getLogger("movierec.test")
    with caplog.at_level(logging.INFO, logger="movierec"):
        for name in track(["popularity", "als", "ease"], "fitting generators", "models"):
            time.sleep(0.12)
            other.info("fitted %s", name)
    shown = terminal.getvalue()
    assert "fitting generators" in shown and "2/3" in shown and "als" in shown, shown
    assert "\r" in shown, "a bar redraws in place"
    assert not [r for r in caplog.records if r.name == "movierec.progress"], "no periodic lines on a terminal"


def test_in_a_log_a_line_every_interval_and_a_last_one_but_no_bar(quick, capsys, caplog):
    with caplog.at_level(logging.INFO, logger="movierec"):
        for _ in track(range(4), "publishing lists", "rows"):
            time.sleep(0.12)
    lines = [r.getMessage() for r in caplog.records if r.name == "movierec.progress"]
    assert len(lines) >= 3, lines
    assert re.fullmatch(r"publishing lists: \d/4 rows \(\d+%\) after \d+ s, on \d", lines[0]), lines
    assert lines[-1].startswith("publishing lists: done, 4/4 rows (100%)"), lines
    assert "\r" not in capsys.readouterr().err


def test_a_loop_done_within_the_interval_logs_nothing(capsys, caplog):
    with caplog.at_level(logging.INFO, logger="movierec"), Progress("scoring", "users", 1000) as counted:
        for _ in range(1000):
            counted.advance()
    assert counted.done == 1000
    assert not [r for r in caplog.records if r.name == "movierec.progress"]
    assert capsys.readouterr().err == ""


def test_a_polled_count_replaces_the_loops_own(quick, caplog):
    counts = iter([(0, 4), (1, 4), (3, 6), (6, 6)])
    with caplog.at_level(logging.INFO, logger="movierec"), Progress("scoring", "tasks", poll=lambda: next(counts, (6, 6))):
        time.sleep(0.3)
    lines = [r.getMessage() for r in caplog.records if r.name == "movierec.progress"]
    assert lines[0].startswith("scoring: 0/4 tasks (0%)") and lines[-1].startswith("scoring: done, 6/6 tasks"), lines


def test_a_step_says_when_it_starts_and_ends_with_its_rows(caplog):
    result = {"tables": {"movies": {"read": 90, "landed": 90, "quarantined": 0},
                         "interactions": {"read": 6655, "landed": 6650, "quarantined": 5}}}
    timings: dict[str, float] = {}
    with caplog.at_level(logging.INFO, logger="movierec"):
        assert run_step("ingest", lambda: result, timings=timings) is result
    started, finished = [r.getMessage() for r in caplog.records if r.name == "movierec.progress"]
    assert started == "step ingest started"
    assert re.fullmatch(r"step ingest finished in \d+\.\d s: rows read -> landed: movies 90 -> 90, "
                        r"interactions 6,655 -> 6,650 \(5 quarantined\)", finished), finished
    assert [STEP_LINE.search(line).groups() for line in (started, finished)] == [("ingest", "started"), ("ingest", "finished")]
    assert list(timings) == ["ingest"]


@pytest.mark.parametrize("name, result, says", [
    ("train_eval", {"train_events": 5000, "train_users": 160, "items": 90, "ranker": {"rows": 12000}},
     "5,000 events in; models of 160 users x 90 movies, ranker on 12,000 candidate rows"),
    ("score_full", {"users": 161, "ranked_lists": 16100, "similar_movies": 900},
     "161 users in; 16,100 ranked list rows, 900 similar movies"),
    ("evaluate", {"protocol": {"evaluated_users": 120}, "gates": {"passed": False, "checks": [
        {"gate": "ndcg@10 >= 0.05", "passed": False}, {"gate": "coverage", "passed": True}]}},
     "120 users evaluated; gates failed: ndcg@10 >= 0.05"),
    ("publish", {"published": False, "version": None, "reason": "gates failed: ndcg@10 >= 0.05"},
     "not published (gates failed: ndcg@10 >= 0.05)"),
])
def test_each_step_names_what_it_read_and_wrote(name, result, says, caplog):
    with caplog.at_level(logging.INFO, logger="movierec"):
        run_step(name, lambda: result)
    assert caplog.records[-1].getMessage().endswith(f": {says}")


def test_a_failed_step_says_so_and_raises(caplog):
    def broken():
        raise ValueError("bad input")

    with caplog.at_level(logging.INFO, logger="movierec"), pytest.raises(ValueError):
        run_step("features", broken)
    assert re.fullmatch(r"step features failed after \d+\.\d s", caplog.records[-1].getMessage())


@pytest.mark.spark
def test_spark_tasks_are_counted_from_the_driver(spark):
    group = "progress-test"
    spark.sparkContext.setJobGroup(group, "a test job")
    try:
        spark.range(0, 1000, numPartitions=4).groupBy((F.col("id") % 3).alias("k")).count().collect()
        done, total = progress.tasks(spark.sparkContext.statusTracker(), group)
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert done == total >= 4


@pytest.mark.spark
def test_spark_tasks_leave_no_job_group_behind(spark):
    with progress.spark_tasks(spark, "counting"):
        assert spark.sparkContext.getLocalProperty("spark.jobGroup.id").startswith("counting ")
        spark.range(10).count()
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None


def _cli(workdir: Path, *flags: str) -> subprocess.CompletedProcess:
    """`movierec publish` of a run that does not exist: Spark starts, then the step fails at once."""
    env = {**os.environ, "FEAST_USAGE": "False"}
    return subprocess.run([str(Path(sys.executable).with_name("movierec")), "publish", "--run-id", "nope",
                           "--workdir", str(workdir), *flags], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.spark
def test_spark_output_goes_to_a_file_unless_verbose(tmp_path):
    quiet = _cli(tmp_path / "quiet")
    assert quiet.returncode == 2
    lines = quiet.stderr.splitlines()
    assert [line.split(" ", 2)[1] for line in lines[:-1]] == ["movierec.cli", "movierec.progress", "movierec.progress"], lines
    assert lines[-1].startswith("movierec publish: error: run nope has no state")
    assert "log4j" in (tmp_path / "quiet" / "spark.log").read_text()

    verbose = _cli(tmp_path / "verbose", "--verbose")
    assert verbose.returncode == 2
    assert "log4j" in verbose.stderr and "step publish started" in verbose.stderr
    assert not (tmp_path / "verbose" / "spark.log").exists()
