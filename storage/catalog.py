"""The DuckDB catalog: views over the lake's Parquet files, and SQL access to them.

Measured here: a view's relative Parquet path resolves against the opener's working
directory, and while one process holds a DuckDB file read-write no other process can
open it, not even read-only. So views use absolute paths, the catalog file is written only
briefly (when a view's definition changes), and `paperlake sql` does not open the file at
all: it builds the same views in an in-memory database, which never waits on a lock.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb
import pyarrow as pa
from filelock import FileLock

from storage.lake import SCHEMA_FILE, TABLE_NAMES, write_parquet_atomic
from storage.schema import TABLES

log = logging.getLogger(__name__)

CATALOG_FILE = "paperlake.duckdb"

_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE",
    pa.list_(pa.string()): "VARCHAR[]",
}


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _parquet_glob(data_dir: Path, table: str) -> str:
    return _sql_string(str(Path(data_dir).resolve() / table / "*.parquet"))


def _duckdb_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_fixed_size_list(arrow_type) or pa.types.is_list(arrow_type):
        if arrow_type.value_type == pa.float32():
            return "FLOAT[]"  # what DuckDB makes of Parquet's fixed-size lists
    return _DUCKDB_TYPES[arrow_type]


def _empty_select(schema: pa.Schema) -> str:
    columns = ", ".join(f"CAST(NULL AS {_duckdb_type(f.type)}) AS {f.name}" for f in schema)
    return f"SELECT {columns} WHERE false"


def view_sql(data_dir: Path, table: str) -> str:
    """`CREATE VIEW` for one table: its files if there are any, else a typed empty relation."""
    folder = Path(data_dir).resolve() / table
    if any(folder.glob("*.parquet")):
        source = f"SELECT * FROM read_parquet({_parquet_glob(data_dir, table)}, union_by_name = true)"
    else:
        source = _empty_select(TABLES[table])
    return f"CREATE OR REPLACE VIEW {table} AS {source}"


def create_views(conn: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    for table in TABLE_NAMES:
        conn.execute(view_sql(data_dir, table))


def connect(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake's views: for queries, never blocked by a writer."""
    conn = duckdb.connect(":memory:")
    create_views(conn, data_dir)
    return conn


def _current_views(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = conn.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall()
    return dict(rows)


def ensure_schema_files(data_dir: Path) -> None:
    """A zero-row `_schema.parquet` in every table folder, so each view's glob always matches.

    The catalog's views then never change after they are first written (new papers are just
    more files under the same glob), and a user's open handle, which blocks rewriting the
    catalog file even when read-only, blocks nothing that matters."""
    for table, schema in TABLES.items():
        path = Path(data_dir) / table / SCHEMA_FILE
        if not path.exists():
            write_parquet_atomic(schema.empty_table(), path)


def refresh_catalog(data_dir: Path, wait_s: float = 10.0) -> bool:
    """Make `<data_dir>/paperlake.duckdb` hold current views; returns whether it is current.

    Writes the file only when it is missing or the data directory moved. Another process
    holding the file only delays this (up to `wait_s`); it never fails an ingest.
    """
    data_dir = Path(data_dir).resolve()
    ensure_schema_files(data_dir)
    wanted = {table: view_sql(data_dir, table) for table in TABLE_NAMES}
    (data_dir / ".locks").mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    try:
        with FileLock(data_dir / ".locks" / "catalog.lock", timeout=wait_s):
            while True:
                try:
                    return _write_views(data_dir / CATALOG_FILE, wanted)
                except duckdb.IOException as exc:  # another process holds the file
                    if time.monotonic() > deadline:
                        raise TimeoutError(str(exc)) from exc
                    time.sleep(0.2)
    except TimeoutError as exc:  # filelock's Timeout is one too
        log.warning("catalog %s is busy (%s); its views were not refreshed", data_dir / CATALOG_FILE, exc)
        return False


def _write_views(path: Path, wanted: dict[str, str]) -> bool:
    if path.exists():
        with duckdb.connect(str(path), read_only=True) as conn:
            current = _current_views(conn)
        if all(_same_view(current.get(t), sql) for t, sql in wanted.items()):
            return True
    with duckdb.connect(str(path)) as conn:
        for sql in wanted.values():
            conn.execute(sql)
    return True


def _same_view(stored: str | None, create_sql: str) -> bool:
    """DuckDB stores views in its own normalised SQL, so compare what matters: the files read."""
    if stored is None:
        return False
    if "read_parquet(" not in create_sql:
        return "read_parquet(" not in stored and "false" in stored.lower()
    glob = create_sql.split("read_parquet(", 1)[1].split(",", 1)[0]
    return glob in stored
