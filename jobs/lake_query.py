"""SQL over the lake without Spark: `movierec sql` and `movierec show`.

delta-rs (`deltalake`) reads each table's transaction log, so a query sees exactly the data files of the
table's latest version (a glob of its folder would also read the files an overwrite replaced) and its schema.
DuckDB reads those Parquet files itself, each table a view named `layer.name` as its folder is
(`silver.interactions`, `gold.ranked_lists`, ...), and runs the query. No JVM starts. DuckDB's own Delta
extension would do both, but it is downloaded on first use, from a host this project cannot count on reaching.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from conf import Config
from jobs.errors import PipelineError

# Table features that make a table's data files alone an incomplete or misnamed view of it.
UNSAFE_FOR_PARQUET = {"deletionVectors", "columnMapping"}
DUCKDB_TYPES = {
    "string": "VARCHAR", "long": "BIGINT", "integer": "INTEGER", "short": "SMALLINT", "byte": "TINYINT",
    "float": "FLOAT", "double": "DOUBLE", "boolean": "BOOLEAN", "binary": "BLOB", "date": "DATE",
    # Delta's timestamp is an instant: Spark writes it as INT96, which DuckDB reads as a naive UTC time.
    "timestamp": "TIMESTAMPTZ", "timestamp_ntz": "TIMESTAMP",
}


class QueryError(PipelineError):
    """The lake cannot answer: an unknown table, SQL DuckDB rejects, a table delta-rs cannot read."""


@dataclass(frozen=True)
class Rows:
    """An answer: column names, and one tuple of Python values per row, in the order the query gave them."""

    columns: list[str]
    rows: list[tuple]


def table_paths(cfg: Config) -> dict[str, str]:
    """Every Delta table of the lake, `layer.name` -> its folder, sorted by name."""
    if "://" in cfg.lake_root:
        raise QueryError(f"lake_root {cfg.lake_root} is not a local folder: query it where it is mounted, "
                         "with --set lake_root=/path/to/lake")
    root = Path(cfg.lake_root)
    return {f"{log.parent.parent.name}.{log.parent.name}": str(log.parent) for log in sorted(root.glob("*/*/_delta_log"))}


def run_sql(cfg: Config, sql: str) -> Rows:
    """The answer to `sql` (DuckDB's dialect) over every table of the lake, at its latest version.

    A table that cannot be read here is left out, so the rest stay queryable; an error naming a missing table
    says which were left out and why.
    """
    con, unreadable = _connect(table_paths(cfg))
    with con:
        return _fetch(con, sql, unreadable)


def show_table(cfg: Config, name: str, limit: int) -> Rows:
    """The first `limit` rows of table `name` (`layer.name`), in the order its files hold them."""
    paths = table_paths(cfg)
    if name not in paths:
        known = ", ".join(paths) or "none yet"
        raise QueryError(f"no table {name!r} in the lake at {cfg.lake_root} (tables: {known})")
    con, unreadable = _connect({name: paths[name]})
    with con:
        if unreadable:
            raise QueryError(unreadable[0])
        return _fetch(con, f"SELECT * FROM {_quoted(name)} LIMIT {int(limit)}", [])


def list_tables(cfg: Config) -> Rows:
    """One row per table: name, Delta version, rows, partition columns.

    Rows come from the log's file statistics, which Spark writes with every file: no data file is opened.
    None where a file has no statistics.
    """
    rows = []
    for name, path in table_paths(cfg).items():
        table = _open(name, path)
        counts = table.get_add_actions().column("num_records").to_pylist()
        total = None if None in counts else sum(counts)
        rows.append((name, table.version(), total, ", ".join(table.metadata().partition_columns)))
    return Rows(["table", "version", "rows", "partitioned by"], rows)


def as_records(answer: Rows) -> list[dict[str, Any]]:
    return [dict(zip(answer.columns, row)) for row in answer.rows]


def render(answer: Rows) -> str:
    """A plain table for a terminal: a header, one line per row (numbers right-aligned), the row count."""
    cells = [[_cell(value) for value in row] for row in answer.rows]
    widths = [max(len(text) for text in column) for column in zip(answer.columns, *cells)]
    numeric = [_numeric(column) for column in zip(*answer.rows)] if answer.rows else [False] * len(answer.columns)

    def line(texts: list[str]) -> str:
        return "  ".join(t.rjust(w) if num else t.ljust(w) for t, w, num in zip(texts, widths, numeric)).rstrip()

    count = f"({len(answer.rows)} row{'' if len(answer.rows) == 1 else 's'})"
    return "\n".join([line(answer.columns), line(["-" * w for w in widths]), *map(line, cells), count])


def _connect(paths: dict[str, str]) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """A connection with a view per table (`layer.name`), and why each table left out could not be read."""
    con = duckdb.connect()
    # The lake's instants are UTC (Spark's session time zone): read and show them so, whatever this machine's zone.
    con.execute("SET TimeZone = 'UTC'")
    unreadable = []
    for name, path in paths.items():
        try:
            _create_view(con, name, path)
        except QueryError as exc:
            unreadable.append(str(exc))
    return con, unreadable


def _create_view(con: duckdb.DuckDBPyConnection, name: str, path: str) -> None:
    select = _view(name, _open(name, path))
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(name.split('.')[0])}")
    try:
        con.execute(f"CREATE VIEW {_quoted(name)} AS {select}")
    except duckdb.Error as exc:
        raise QueryError(f"{name}: its files do not match its Delta schema ({_one_line(exc)})") from None


def _view(name: str, table: DeltaTable) -> str:
    """A SELECT of the table's latest version: its live files, every column cast to its Delta type, in its order.

    Partition values come from the files' folders (`column=value`, as Spark writes them), read as text and
    cast. DuckDB reads the Parquet files itself: through Arrow it would import pandas, half a second per command.
    """
    features = set(table.protocol().reader_features or [])
    if features & UNSAFE_FOR_PARQUET:
        raise QueryError(f"{name} uses {', '.join(sorted(features & UNSAFE_FOR_PARQUET))}: its Parquet files alone "
                         "are not the table; read it through Spark")
    try:
        types = {field.name: duckdb_type(field.type) for field in table.schema().fields}
    except KeyError as exc:
        raise QueryError(f"{name}: Delta type {exc.args[0]} has no DuckDB type here") from None
    files = table.file_uris()
    if not files:
        return "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {_ident(c)}" for c, t in types.items()) + " LIMIT 0"
    partitions = table.metadata().partition_columns
    if partitions:
        hive = ", ".join(f"{_literal(c)}: 'VARCHAR'" for c in partitions)
        options = f"hive_partitioning = true, hive_types = {{{hive}}}"
    else:
        options = "hive_partitioning = false"
    columns = ", ".join(f"CAST({_ident(c)} AS {t}) AS {_ident(c)}" for c, t in types.items())
    # By name: files written before a column was added to the table lack it (NULL there).
    return f"SELECT {columns} FROM read_parquet([{', '.join(map(_literal, files))}], union_by_name = true, {options})"


def duckdb_type(delta_type) -> str:
    """DuckDB's name for a Delta column type (deltalake's PrimitiveType, ArrayType, MapType or StructType)."""
    kind = delta_type.type
    if kind == "array":
        return f"{duckdb_type(delta_type.element_type)}[]"
    if kind == "map":
        return f"MAP({duckdb_type(delta_type.key_type)}, {duckdb_type(delta_type.value_type)})"
    if kind == "struct":
        return "STRUCT(" + ", ".join(f"{_ident(f.name)} {duckdb_type(f.type)}" for f in delta_type.fields) + ")"
    return kind.upper() if kind.startswith("decimal") else DUCKDB_TYPES[kind]


def _open(name: str, path: str) -> DeltaTable:
    try:
        return DeltaTable(path)
    except DeltaError as exc:
        raise QueryError(f"{name}: cannot read its Delta log at {path} ({_one_line(exc)})") from None


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, unreadable: list[str]) -> Rows:
    try:
        cursor = con.execute(sql)
        if cursor is None:  # DuckDB's answer to a query that is blank or only comments
            raise QueryError("the query holds no SQL statement")
        return Rows([column[0] for column in cursor.description], cursor.fetchall())
    except duckdb.CatalogException as exc:
        left_out = f"; left out: {'; '.join(unreadable)}" if unreadable else ""
        raise QueryError(f"{_one_line(exc)} (tables are layer.name: `movierec show` lists them{left_out})") from None
    except duckdb.Error as exc:
        raise QueryError(_one_line(exc)) from None


def _one_line(exc: Exception) -> str:
    """DuckDB's message without the caret drawing under the query ("LINE 1: ..."), on one line."""
    lines = []
    for text in str(exc).splitlines():
        if text.startswith("LINE "):
            break
        if text.strip():
            lines.append(text.strip())
    return " ".join(lines)


def _quoted(name: str) -> str:
    """A table's `layer.name` as DuckDB's schema.view."""
    return ".".join(map(_ident, name.split(".", 1)))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric(column: tuple) -> bool:
    """Right-aligned: numbers, with NULLs between them."""
    return any(map(_is_number, column)) and all(_is_number(v) or v is None for v in column)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    # One line per row: a reason text or a quarantined raw line may hold line breaks.
    return str(value).replace("\n", "\\n")
