"""Batch-level data contracts, as Great Expectations 1.x suites over Spark DataFrames.

Rows are judged first, one by one, by `data_contracts.rules` (a failing row goes to quarantine
with the rule's name). A suite then judges the batch that is about to land: the exact columns and
their types, non-null unique keys, value ranges, the volume against the previous batch and, for a
day's events, freshness (its newest event must not be older than the day by more than the allowed
lag: an old file replayed as today's). A failing suite stops the step before silver is written,
and says which expectations failed. The gold feature tables have suites too (`gold_*`), run by the
features step before it writes them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pyspark.sql import DataFrame

from data_contracts import columns as S
from data_contracts.rules import MAX_AGE, MAX_RUNTIME_MINUTES, MAX_WATCH_SECONDS

@dataclass(frozen=True)
class Range:
    column: str
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class Contract:
    """What a batch of one silver table must look like."""

    table: str
    key: str | tuple[str, ...]   # a compound key is unique as a whole
    not_null: tuple[str, ...] = ()
    ranges: tuple[Range, ...] = ()
    allowed: dict[str, tuple[str, ...]] | None = None


CONTRACTS = {
    "interactions": Contract(
        "interactions", S.EVENT_ID, not_null=(S.USER_ID, S.MOVIE_ID, S.EVENT_TYPE, S.TS),
        ranges=(Range(S.USER_ID, 0), Range(S.MOVIE_ID, 0), Range(S.WATCH_SECONDS, 0, MAX_WATCH_SECONDS)),
        allowed={S.EVENT_TYPE: S.EVENT_TYPES}),
    "movies": Contract(
        "movies", S.MOVIE_ID, not_null=("title",),
        ranges=(Range("runtime", 0, MAX_RUNTIME_MINUTES), Range("vote_average", 0, 10), Range("year", 1870, 2100))),
    "users": Contract("users", S.USER_ID, ranges=(Range(S.USER_ID, 0), Range("age", 0, MAX_AGE))),
    "exposures": Contract("exposures", S.EXPOSURE_ID, not_null=(S.USER_ID, S.EXPERIMENT, S.VARIANT, S.SERVED_AT, "movie_ids"),
                          ranges=(Range(S.USER_ID, 0),)),
}


def _activity(table: str, entity: str, windows: list[int], *extra: Range) -> Contract:
    """A point-in-time activity table: one row per entity and time, counts that cannot be negative,
    and a lifetime count of at least one (a row exists only after an event)."""
    return Contract(
        table, (entity, "event_timestamp"), not_null=("event_timestamp", "first_event_at", "last_event_at"),
        ranges=(Range("events_total", 1), Range("positives_total", 0), Range("avg_rating", 0.5, 5.0),
                *[Range(f"events_{w}d", 0) for w in windows], *extra))


def gold_contracts(windows: list[int]) -> dict[str, Contract]:
    return {
        "user_features": _activity("gold_user_features", S.USER_ID, windows, Range("age", 0, MAX_AGE)),
        "movie_features": _activity("gold_movie_features", S.MOVIE_ID, windows, Range("viewers", 1)),
        "movie_attributes": Contract("gold_movie_attributes", S.MOVIE_ID, not_null=("event_timestamp",),
                                     ranges=(Range("runtime", 0, MAX_RUNTIME_MINUTES), Range("vote_average", 0, 10))),
    }


@dataclass(frozen=True)
class Verdict:
    table: str
    success: bool
    failed: list[str]            # "expectation(column): what was observed"
    result: dict                 # the full Great Expectations validation result (JSON-safe)


def _suite(contract: Contract, frame: DataFrame, min_rows: int, fresh_after: datetime | None):
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=contract.table)
    columns = [f.name for f in frame.schema.fields]
    suite.add_expectation(gxe.ExpectTableRowCountToBeBetween(min_value=min_rows))
    if isinstance(contract.key, str):
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=contract.key))
        suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column=contract.key))
    else:
        for column in contract.key:
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
        suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(contract.key)))
    if fresh_after is not None:
        suite.add_expectation(gxe.ExpectColumnMaxToBeBetween(column=S.TS, min_value=fresh_after))
    for column in contract.not_null:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    for r in contract.ranges:
        if r.column in columns:
            suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=r.column, min_value=r.min_value,
                                                                    max_value=r.max_value))
    for column, values in (contract.allowed or {}).items():
        suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values)))
    return suite


def _schema_drift(expected: list[tuple[str, str]], frame: DataFrame) -> list[str]:
    """Column names and Spark types of `frame` against the silver schema; checked before GX (its type
    expectations need the column to exist)."""
    actual = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    problems = [f"missing column {name} ({kind})" for name, kind in expected if name not in actual]
    problems += [f"column {name} is {actual[name]}, not {kind}" for name, kind in expected
                 if name in actual and actual[name] != kind]
    return problems


def validate(frame: DataFrame, table: str, expected_schema, min_rows: int, fresh_after: datetime | None = None,
             contract: Contract | None = None) -> Verdict:
    """Run the table's contract (or `contract`) on `frame`, the batch about to land; with `fresh_after`,
    its newest event must be at least that recent."""
    import great_expectations as gx

    expected = [(f.name, f.dataType.simpleString()) for f in expected_schema.fields] if expected_schema else []
    drift = _schema_drift(expected, frame)
    if drift:
        return Verdict(table, False, [f"schema: {p}" for p in drift], {"schema": drift})
    contract = contract or CONTRACTS[table]
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # a batch job's log, not a terminal
    batch = (context.data_sources.add_spark(contract.table)
             .add_dataframe_asset(table).add_batch_definition_whole_dataframe("batch")
             .get_batch(batch_parameters={"dataframe": frame}))
    result = batch.validate(_suite(contract, frame, min_rows, fresh_after), result_format="SUMMARY")
    failed = []
    for check in result.results:
        if not check.success:
            config = check.expectation_config
            observed = check.result.get("observed_value", check.result.get("unexpected_count"))
            failed.append(f"{config.type}({config.kwargs.get('column', 'table')}): observed {observed}")
    return Verdict(table, bool(result.success), failed, result.to_json_dict())


def save(verdict: Verdict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{verdict.table}.json"
    path.write_text(json.dumps({"table": verdict.table, "success": verdict.success, "failed": verdict.failed,
                                "result": verdict.result}, indent=1, default=str))
    return path
