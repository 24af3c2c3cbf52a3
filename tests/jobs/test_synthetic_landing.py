"""The synthetic event log in Parquet parses to the very events its rows give as JSON lines (the layout
the source wrote before), and a log of several Parquet parts is read in one go."""

import pyarrow.parquet as pq
import pytest

from conf.settings import SyntheticConfig
from data_contracts import columns as S
from jobs.bronze import raw_lines
from jobs.ingest import parse_events
from jobs.sources.files import parquet_by_schema, write_jsonl
from jobs.sources.synthetic import write_synthetic

pytestmark = pytest.mark.spark

TYPED = [S.EVENT_ID, S.USER_ID, S.MOVIE_ID, S.EVENT_TYPE, S.VALUE, S.WATCH_SECONDS, S.DEVICE, S.TS]


def test_parquet_rows_parse_like_their_json_lines(spark, tmp_path):
    paths = write_synthetic(SyntheticConfig(users=60, movies=40, events_per_user=10, days=30), 3, tmp_path / "landing")
    parts = sorted(str(p) for p in paths["events"].rglob("*.parquet"))
    assert len(parquet_by_schema(parts)) == 1 and len(parts) > 20

    from_parquet = parse_events(raw_lines(spark, [str(paths["events"])], "files"), "files")
    # The same rows as the JSON lines the source used to write: nulls as null, floats as Python writes them.
    rows = [row for part in parts for row in pq.read_table(part).to_pylist()]
    jsonl = write_jsonl(tmp_path / "events.jsonl", rows)
    from_json = parse_events(raw_lines(spark, [str(jsonl)], "jsonl"), "jsonl")

    def typed(frame):
        return sorted(tuple(r) for r in frame.select(*TYPED).collect())

    got, expected = typed(from_parquet), typed(from_json)
    assert got == expected and len(got) == len(rows)
    assert all(r[S.TS] is not None and r[S.USER_ID] is not None for r in from_parquet.select(*TYPED).collect())
    assert {r[S.SOURCE_FILE].rsplit("/", 2)[-2][:3] for r in from_parquet.select(S.SOURCE_FILE).distinct().collect()} == {"dt="}
