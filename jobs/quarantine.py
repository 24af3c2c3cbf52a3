"""Row rules and the quarantine: a row failing a rule lands in quarantine/rows with the rule's name, and a
batch with too many of them stops before silver is written (a broken feed, not bad luck). Then the batch's
contract (data_contracts/suites.py) judges what is about to land."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import types as T
from pyspark.sql import functions as F

from conf import Config
from data_contracts import columns as S
from data_contracts import rules, suites
from jobs.errors import ContractViolation


def quarantine_bad_rows(cfg: Config, parsed: DataFrame, table_rules, table: str,
                        batch_id: str) -> tuple[DataFrame, int, dict[str, int]]:
    """(the rows with their reason column, cached; rows read; rows quarantined per rule): the rows failing a rule
    go to quarantine, and a batch where too many do stops here."""
    checked = check_rows(parsed, table_rules)
    read = checked.count()
    by_rule = quarantine(cfg, checked.where(F.col(S.REASON).isNotNull()), table, batch_id)
    check_bad_share(cfg, table, batch_id, read, by_rule)
    return checked, read, by_rule


def enforce_contract(cfg: Config, batch: DataFrame, table: str, schema: T.StructType, batch_id: str, min_rows: int,
                     fresh_after: datetime | None = None, release: tuple[DataFrame, ...] = ()) -> Path:
    """Judge the batch about to land in silver.`table` by its suite and save the result under the batch's
    validations; a failing batch unpersists `release` and stops with what failed. Returns where it was saved."""
    verdict = suites.validate(batch, table, schema, min_rows, fresh_after)
    saved = suites.save(verdict, cfg.validations_dir / batch_id)
    if not verdict.success:
        for frame in release:
            frame.unpersist()
        raise ContractViolation(f"{table}: batch {batch_id} breaks its contract: {'; '.join(verdict.failed)}. "
                                f"silver.{table} was not changed; the validation result is in {saved}")
    return saved


def check_rows(parsed: DataFrame, table_rules) -> DataFrame:
    """`parsed` plus the reason column, cached: rules are evaluated once per row (ts_in_future reads the clock)."""
    return parsed.withColumn(S.REASON, rules.first_failure(table_rules)).cache()


def quarantine(cfg: Config, bad: DataFrame, table: str, batch_id: str) -> dict[str, int]:
    rows = bad.select(
        F.lit(table).alias(S.TABLE), S.REASON, S.PAYLOAD, S.SOURCE_FILE, S.BATCH_ID, S.SOURCE, S.INGESTED_AT,
    )
    target = cfg.table_path("quarantine", "rows")
    rows.write.format("delta").mode("overwrite").option(
        "replaceWhere", f"{S.BATCH_ID} = '{batch_id}' AND {S.TABLE} = '{table}'"
    ).partitionBy(S.TABLE).save(target)
    return {r[S.REASON]: r["count"] for r in bad.groupBy(S.REASON).count().collect()}


def check_bad_share(cfg: Config, table: str, batch_id: str, read: int, by_rule: dict[str, int]) -> None:
    quarantined = sum(by_rule.values())
    if read and quarantined / read > cfg.contracts.max_quarantine_share:
        worst = ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items(), key=lambda kv: -kv[1])[:3])
        raise ContractViolation(
            f"{table}: {quarantined} of {read} rows of batch {batch_id} failed the row rules ({worst}), above "
            f"contracts.max_quarantine_share {cfg.contracts.max_quarantine_share:.0%}: a broken feed or a schema "
            f"change. The rows are in quarantine; silver.{table} was not changed.")
