"""Opening the lake: the ATTACH statement, creating a new catalog whole, attaching with waits, and
which errors are lost races worth retrying. `storage.lakehouse` builds transactions on top; users'
read-only connections (`paperlake sql`, the README's Python attach) come from `connect_read_only`.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import duckdb

from storage.catalog import catalog_path, lake_exists, no_lake_error
from storage.changes import ALIAS, create_tables
from storage.duck import connect, sql_literal
from storage.tables import TableSpec

DATA_FOLDER = "lake"
RETRY_FOR_S = 120.0  # a writer waits this long for others' commits before giving up
# Lost races between writers: the SQLite catalog busy, or DuckLake's logical conflicts (two deletes of one file).
RETRYABLE = ("database is locked", "conflict", "Conflict", "busy")


def attach_sql(data_dir: Path, *, read_only: bool, catalog: Path | None = None) -> str:
    """The one ATTACH statement (the ducklake and sqlite extensions loaded first)."""
    data_path = str(Path(data_dir).resolve() / DATA_FOLDER) + "/"
    options = [f"DATA_PATH {sql_literal(data_path)}", "OVERRIDE_DATA_PATH true"]  # the folder may have moved
    if read_only:
        options.append("READ_ONLY")
    target = sql_literal(f"ducklake:sqlite:{(catalog or catalog_path(data_dir)).resolve()}")
    return f"ATTACH {target} AS {ALIAS} ({', '.join(options)})"


def create_catalog(data_dir: Path, read_only: bool, specs: Sequence[TableSpec] = ()) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A new catalog with the tables of `specs` in it, made aside and linked into place whole: a process
    killed while creating the lake leaves no catalog that readers take for a lake and cannot attach,
    and nobody reads the lake while its tables are being made (DuckLake has aborted on reads concurrent
    with a new catalog's first DDL: duckdb/ducklake#1448). Of two processes creating it at once, the
    first link wins and the other uses it. Returns (the lake attached on the connection that created
    it, whether this call's catalog is the lake's): loading the signed extensions is most of a new
    connection's cost (0.1-0.3 s)."""
    path = catalog_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    conn, linked = connect(), False
    try:
        with closing(sqlite3.connect(tmp)) as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent in the file: readers never block the writer
        conn.execute(attach_sql(data_dir, read_only=False, catalog=tmp))  # DuckLake creates its tables
        _make_tables(conn, specs)
        conn.execute(f"DETACH {ALIAS}")
        with closing(sqlite3.connect(tmp)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file itself before it moves
        try:
            os.link(tmp, path)  # atomic, and never replaces a catalog another process put there first
            linked = True
        except FileExistsError:
            pass
    except BaseException:
        conn.close()
        raise
    finally:
        for suffix in ("", "-wal", "-shm"):
            tmp.with_name(tmp.name + suffix).unlink(missing_ok=True)
    return attach(data_dir, read_only, conn), linked


def _make_tables(conn: duckdb.DuckDBPyConnection, specs: Sequence[TableSpec]) -> None:
    """Create `specs` in the catalog attached as the lake (one snapshot), then their table options."""
    if not specs:
        return
    cur = conn.cursor()
    try:
        cur.execute("BEGIN")
        cur.execute(f"USE {ALIAS}")
        create_tables(cur, specs)
    finally:
        cur.close()


def connect_read_only(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached read-only as the default schema: for users' SQL."""
    if not lake_exists(data_dir):
        raise no_lake_error(data_dir)
    conn = connect()
    conn.execute(attach_sql(data_dir, read_only=True))
    conn.execute(f"USE {ALIAS}")
    return conn


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.Error) and any(word in str(exc) for word in RETRYABLE)


def attach(data_dir: Path, read_only: bool, conn: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """Attach (on `conn`, or a new connection), waiting out another process (or handle) that is
    initialising a new lake's catalog or holding its lock."""
    conn = conn or connect()
    deadline = time.monotonic() + RETRY_FOR_S
    while True:
        try:
            conn.execute(attach_sql(data_dir, read_only=read_only))
            return conn
        except duckdb.Error as exc:
            if not is_retryable(exc) or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(0.05 + random.random() * 0.2)
