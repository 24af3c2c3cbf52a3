"""Landing files: written atomically, so a reader never sees half a file; event logs read in any of
the formats producers write (JSON lines, CSV with a header, Parquet), each row as a JSON line."""

from __future__ import annotations

import json
from pathlib import Path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write `rows` as JSON lines to `path` via a temporary file and a rename; return `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, default=str) + "\n")
    tmp.replace(path)
    return path


JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
EVENT_SUFFIXES = (*JSON_SUFFIXES, ".csv", ".parquet")


def list_files(paths: list[str]) -> list[Path]:
    """The files `paths` name: a file itself, or every file under a folder, sorted."""
    out: list[Path] = []
    for path in map(Path, paths):
        out.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return out


def event_files(paths: list[str]) -> dict[str, list[str]]:
    """The non-empty event files under `paths` by format: {"json": [...], "csv": [...], "parquet": [...]}.

    Empty files hold no rows to lose, and Spark's CSV reader cannot infer a header from them."""
    found: dict[str, list[str]] = {"json": [], "csv": [], "parquet": []}
    for path in list_files(paths):
        if path.stat().st_size == 0 or path.name.startswith((".", "_")):
            continue
        suffix = path.suffix.lower()
        kind = "json" if suffix in JSON_SUFFIXES else suffix.lstrip(".")
        if kind not in found:
            raise ValueError(f"{path}: unknown event file type {suffix!r}; expected one of {', '.join(EVENT_SUFFIXES)}")
        found[kind].append(str(path))
    return found


def parquet_by_schema(paths: list[str]) -> list[list[str]]:
    """Parquet files grouped by schema (read from their footers), groups in order of their first file:
    Spark reads each group in one go, where files of different schemas would not union by position."""
    import pyarrow.parquet as pq

    groups: dict[str, list[str]] = {}
    for path in paths:
        groups.setdefault(pq.read_schema(path).remove_metadata().to_string(), []).append(path)
    return list(groups.values())
