"""Batch-level data contracts, as Great Expectations 1.x suites over Spark DataFrames.

Rows are judged first, one by one, by `data_contracts.rules` (a failing row goes to quarantine
with the rule's name). A suite then judges the batch that is about to land: the exact columns and
their types, non-null unique keys, value ranges, and the volume against the previous batch. A
failing suite stops the step before silver is written, and says which expectations failed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
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
    key: str
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
}


@dataclass(frozen=True)
class Verdict:
    table: str
    success: bool
    failed: list[str]            # "expectation(column): what was observed"
    result: dict                 # the full Great Expectations validation result (JSON-safe)


def _suite(contract: Contract, frame: DataFrame, min_rows: int):
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=f"silver_{contract.table}")
    columns = [f.name for f in frame.schema.fields]
    suite.add_expectation(gxe.ExpectTableRowCountToBeBetween(min_value=min_rows))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=contract.key))
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column=contract.key))
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


def validate(frame: DataFrame, table: str, expected_schema, min_rows: int) -> Verdict:
    """Run the table's contract on `frame` (the batch about to land)."""
    import great_expectations as gx

    expected = [(f.name, f.dataType.simpleString()) for f in expected_schema.fields]
    drift = _schema_drift(expected, frame)
    if drift:
        return Verdict(table, False, [f"schema: {p}" for p in drift], {"schema": drift})
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # a batch job's log, not a terminal
    batch = (context.data_sources.add_spark(f"silver_{table}")
             .add_dataframe_asset(table).add_batch_definition_whole_dataframe("batch")
             .get_batch(batch_parameters={"dataframe": frame}))
    result = batch.validate(_suite(CONTRACTS[table], frame, min_rows), result_format="SUMMARY")
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
