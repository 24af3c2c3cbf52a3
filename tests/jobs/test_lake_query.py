"""`movierec sql` and `movierec show` on the tiny published run's lake: they see what Spark sees, answer
bad input with one line and exit code 2, and never start Spark."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from deltalake.schema import ArrayType, Field, MapType, PrimitiveType, StructType
from pyspark.sql import functions as F

from data_contracts import columns as S
from jobs import lake
from jobs.cli import main
from jobs.lake_query import Rows, duckdb_type, render, table_paths
from tests.conftest import tiny_config

pytestmark = pytest.mark.spark


def _cli(capsys, *argv: str, workdir: str) -> tuple[int, str, str]:
    code = main([*argv, "--workdir", workdir])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_table_reads_as_spark_reads_it(published, spark, capsys):
    """Row counts of every table (ranked_lists was overwritten per split by replaceWhere, so only its latest files
    count; quarantine.rows may have no file at all), partition columns (kept in folder names, not in the files)
    and instants (Spark's INT96, read as naive UTC times)."""
    cfg, _ = published
    tables = table_paths(cfg)
    union = " UNION ALL ".join(f"SELECT '{name}' AS name, count(*) AS n FROM {name}" for name in tables)
    code, out, err = _cli(capsys, "sql", union, "--json", workdir=cfg.workdir)
    assert code == 0, err
    assert {row["name"]: row["n"] for row in json.loads(out)} == {
        name: lake.read(spark, path).count() for name, path in tables.items()}

    ranked = lake.read(spark, cfg.table_path("gold", "ranked_lists")).groupBy(S.SPLIT).count().collect()
    query = f"SELECT {S.SPLIT}, count(*) AS n FROM gold.ranked_lists WHERE {S.RUN_ID} = 'tiny-run' GROUP BY 1"
    code, out, _ = _cli(capsys, "sql", query, "--json", workdir=cfg.workdir)
    assert {row[S.SPLIT]: row["n"] for row in json.loads(out)} == {r[S.SPLIT]: r["count"] for r in ranked}
    assert {r[S.SPLIT] for r in ranked} == {"eval", "full"}

    events = lake.read(spark, cfg.table_path("silver", "interactions"))
    first, last = events.agg(F.min(S.TS).cast("double"), F.max(S.TS).cast("double")).first()
    query = f"SELECT epoch(min({S.TS})) AS first, epoch(max({S.TS})) AS last FROM silver.interactions"
    code, out, _ = _cli(capsys, "sql", query, "--json", workdir=cfg.workdir)
    assert json.loads(out) == [{"first": pytest.approx(first, abs=1e-6), "last": pytest.approx(last, abs=1e-6)}]


def test_show_lists_every_table_and_prints_a_table_s_first_rows(published, spark, capsys):
    cfg, _ = published
    code, out, _ = _cli(capsys, "show", workdir=cfg.workdir)
    assert code == 0
    listed = {line.split()[0]: line.split() for line in out.splitlines()[2:-1]}
    assert {"silver.interactions", "silver.movies", "gold.ranked_lists", "gold.eval_metrics"} <= set(listed)
    interactions = lake.read(spark, cfg.table_path("silver", "interactions")).count()
    assert int(listed["silver.interactions"][2]) == interactions

    code, out, _ = _cli(capsys, "show", "gold.ranked_lists", "--limit", "3", workdir=cfg.workdir)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == [S.LIST_NAME, S.USER_ID, S.RANK, S.MOVIE_ID]
    assert len(lines) == 2 + 3 + 1 and lines[-1] == "(3 rows)"
    code, out, _ = _cli(capsys, "show", "gold.ranked_lists", "--limit", "3", "--json", workdir=cfg.workdir)
    rows = json.loads(out)
    assert len(rows) == 3 and all(row[S.RUN_ID] == "tiny-run" for row in rows)


@pytest.mark.parametrize("argv, message", [
    (["show", "gold.nope"], "movierec show: error: no table 'gold.nope' in the lake at"),
    (["sql", "SELECT * FROM gold.nope"], "movierec sql: error: Catalog Error: Table with name nope does not exist"),
    (["sql", "SELECT * FROM interactions"], "movierec sql: error: Catalog Error: Table with name interactions does not exist"),
    (["sql", "SELEC 1"], 'movierec sql: error: Parser Error: syntax error at or near "SELEC"'),
    (["sql", "SELECT no_such_column FROM silver.movies"], "movierec sql: error: Binder Error:"),
    (["sql", " -- only a comment"], "movierec sql: error: the query holds no SQL statement"),
])
def test_bad_input_is_one_line_and_exit_code_2(published, capsys, argv, message):
    cfg, _ = published
    code, out, err = _cli(capsys, *argv, workdir=cfg.workdir)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1, err


def test_a_table_with_deletion_vectors_is_refused_by_name_and_left_out_of_sql(spark, tmp_path, capsys):
    """Its Parquet files alone still hold the deleted rows: `show` refuses it; `sql` answers over the other tables,
    and says why it left it out when a query names it."""
    from delta.tables import DeltaTable

    cfg = tiny_config(tmp_path)
    path = cfg.table_path("silver", "deleted")
    spark.range(5).write.format("delta").save(path)
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    DeltaTable.forPath(spark, path).delete("id = 1")
    spark.range(3).write.format("delta").save(cfg.table_path("gold", "plain"))

    code, _, err = _cli(capsys, "show", "silver.deleted", workdir=cfg.workdir)
    assert code == 2 and err.count("\n") == 1 and "silver.deleted uses deletionVectors" in err
    code, out, _ = _cli(capsys, "sql", "SELECT count(*) AS n FROM gold.plain", "--json", workdir=cfg.workdir)
    assert code == 0 and json.loads(out) == [{"n": 3}]
    code, _, err = _cli(capsys, "sql", "SELECT * FROM silver.deleted", workdir=cfg.workdir)
    assert code == 2 and err.count("\n") == 1 and "left out: silver.deleted uses deletionVectors" in err


@pytest.mark.parametrize("command", ["sql", "show"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "--json" in capsys.readouterr().out


def test_the_commands_start_no_spark(published):
    """In a fresh interpreter: neither command imports pyspark, so no JVM can start."""
    cfg, _ = published
    script = ("import sys; from jobs.cli import main; "
              f"codes = [main(['sql', 'SELECT count(*) FROM silver.interactions', '--workdir', {cfg.workdir!r}]), "
              f"main(['show', 'gold.ranked_lists', '--workdir', {cfg.workdir!r}]), main(['show', '--workdir', {cfg.workdir!r}])]; "
              "assert codes == [0, 0, 0], codes; "
              "assert 'pyspark' not in sys.modules, 'pyspark was imported'")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_render_aligns_numbers_and_keeps_one_line_per_row():
    text = render(Rows(["name", "n", "note"], [("a", 1, None), ("bb", 20, "two\nlines")]))
    assert text.splitlines() == [
        "name   n  note",
        "----  --  ----------",
        "a      1  NULL",
        "bb    20  two\\nlines",
        "(2 rows)",
    ]


def test_delta_types_become_duckdb_types():
    assert duckdb_type(PrimitiveType("timestamp")) == "TIMESTAMPTZ"
    assert duckdb_type(PrimitiveType("decimal(10,2)")) == "DECIMAL(10,2)"
    assert duckdb_type(ArrayType(PrimitiveType("string"))) == "VARCHAR[]"
    assert duckdb_type(MapType("string", "double")) == "MAP(VARCHAR, DOUBLE)"
    assert duckdb_type(StructType([Field("a", "long"), Field("b c", "date")])) == 'STRUCT("a" BIGINT, "b c" DATE)'
