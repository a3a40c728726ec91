"""Where the lake's catalog is and what it says, read with sqlite3 alone (no DuckDB, no Arrow).

The query path asks this before every search (is the index still current?): importing DuckDB and
the table layer would cost a one-shot `paperlake query` about 0.1 s more, for a sub-millisecond read.
`storage.lakehouse` owns everything else about the lake.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

from paperlake.errors import PaperlakeError

CATALOG_FILE = "lake.sqlite"
_READ_TIMEOUT_S = 120.0  # a writer may hold the catalog while it commits


class NoLakeError(PaperlakeError):
    """There is no lake where PAPERLAKE_DATA_DIR points."""


def catalog_path(data_dir: Path) -> Path:
    return Path(data_dir) / CATALOG_FILE


def lake_exists(data_dir: Path) -> bool:
    return catalog_path(data_dir).is_file()


def no_lake_error(data_dir: Path) -> NoLakeError:
    if any((Path(data_dir) / "papers").glob("*.parquet")):
        return NoLakeError(f"{data_dir} holds a lake in the old per-paper Parquet layout: run `paperlake migrate` once "
                           "(PAPERLAKE_DATA_DIR names the folder)")  # fmt: skip
    return NoLakeError(f"no lake in {data_dir} (PAPERLAKE_DATA_DIR): point it at the folder holding {CATALOG_FILE}, "
                       "or run `paperlake ingest` to start a lake there")  # fmt: skip


def _read_only(data_dir: Path) -> closing[sqlite3.Connection]:
    if not lake_exists(data_dir):
        raise no_lake_error(data_dir)
    uri = f"file:{catalog_path(data_dir).resolve()}?mode=ro"
    return closing(sqlite3.connect(uri, uri=True, timeout=_READ_TIMEOUT_S))


def catalog_last_change(data_dir: Path, tables: Sequence[str]) -> int:
    """The latest snapshot that changed any of `tables` (0: none), read from the SQLite catalog directly:
    well under a millisecond, no attach. `storage.lakehouse.last_change` asks DuckLake the same inside
    a transaction."""
    with _read_only(data_dir) as db:
        return _catalog_last_change(db, tables)


def catalog_head(data_dir: Path) -> tuple[int, str] | None:
    """The lake's latest snapshot, (id, commit time), read from the SQLite catalog directly (None: no lake,
    or one still being created). Any commit changes it; nothing else does (expiry never removes the
    latest snapshot). The time tells apart two lakes made one after the other in the same folder."""
    if not lake_exists(data_dir):
        return None
    with _read_only(data_dir) as db:
        try:
            latest = "SELECT snapshot_id, snapshot_time FROM ducklake_snapshot ORDER BY snapshot_id DESC LIMIT 1"
            row = db.execute(latest).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
    return (int(row[0]), str(row[1])) if row else None


_CHANGE = re.compile(r'(\w+):("(?:[^"]|"")*"(?:\."(?:[^"]|"")*")*|[^,]*)')


def _catalog_last_change(db: sqlite3.Connection, tables: Sequence[str]) -> int:
    """`last_change` from the catalog tables of the DuckLake spec: `ducklake_snapshot_changes.changes_made`
    lists `kind:value` items, a created table as `"schema"."name"`, anything else by table id."""
    marks = ",".join("?" * len(tables))
    try:
        ids = {str(row[0]) for row in db.execute(
            f"SELECT table_id FROM ducklake_table WHERE end_snapshot IS NULL AND table_name IN ({marks})", list(tables))}  # fmt: skip
        history = db.execute("SELECT snapshot_id, changes_made FROM ducklake_snapshot_changes ORDER BY snapshot_id DESC")
    except sqlite3.OperationalError as exc:  # a catalog DuckLake has not finished creating: nothing in it yet
        if "no such table" in str(exc):
            return 0
        raise
    wanted = ids | {f'"main"."{name}"' for name in tables}
    for snapshot_id, changes in history:
        if any(value in wanted for _, value in _CHANGE.findall(changes or "")):
            return int(snapshot_id)
    return 0
