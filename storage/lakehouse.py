"""The lake as DuckLake: Parquet data files plus a catalog in SQLite, with snapshots and transactions.

Only `storage/` knows the lake is DuckLake: this module owns table definitions, transactions and their
retries on write conflicts; `storage.attach` opens the lake, `storage.catalog` reads its SQLite catalog,
`storage.changes` turns changes into SQL, `storage.maintain` keeps it small. Callers hand it `TableSpec`s
(any table: papers, nodes, evaluation results...) and changes (`Replace`, `Append`); everything in one
`commit` call is one DuckLake transaction, so a reader sees all of it or none of it.

`Replace` writes only differences: rows identical to a stored row are left alone, so a run that
changes nothing creates no snapshot and no file. The SQLite catalog runs in WAL mode so readers
(a user's DuckDB shell, `paperlake sql`) never block a writer, nor a writer them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from storage.attach import RETRY_FOR_S, attach, attach_sql, connect_read_only, create_catalog, is_retryable
from storage.catalog import CATALOG_FILE, NoLakeError, catalog_head, catalog_last_change, catalog_path, lake_exists, no_lake_error
from storage.changes import ALIAS, Append, Change, Replace, apply, create_tables
from storage.duck import sql_literal
from storage.tables import TableSpec

__all__ = ["Append", "Change", "Replace", "Lakehouse", "CommitResult", "NoLakeError", "CATALOG_FILE", "lake_exists",
           "no_lake_error", "catalog_path", "attach_sql", "connect_read_only"]

log = logging.getLogger(__name__)

Hook = Callable[[str], None]


@dataclass
class CommitResult:
    snapshot_id: int | None  # None: nothing changed, so nothing was written
    inserted: int = 0
    deleted: int = 0
    attempts: int = 1


@dataclass
class _State:
    conn: duckdb.DuckDBPyConnection | None = None
    tables: set[str] = field(default_factory=set)  # known to exist with every column of their spec


class Lakehouse:
    """One process's handle on the lake under `data_dir`. Thread-safe; attaches on first use."""

    def __init__(self, data_dir: Path, *, read_only: bool = False, threads: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.read_only = read_only
        self.threads = threads  # DuckDB's threads per statement (None: its default, one per core)
        self.hooks: list[Hook] = []  # a seam: called at "begin", "staged:<table>", "before_commit", "committed"
        self._state = _State()
        self._attach_lock = threading.Lock()
        self._commit_lock = threading.Lock()  # one transaction at a time per process; processes retry

    def exists(self) -> bool:
        return lake_exists(self.data_dir)

    @property
    def is_open(self) -> bool:
        """Whether this handle has attached the lake (loaded the extensions): what a memo hit saves."""
        return self._state.conn is not None

    def _connection(self, create: bool, specs: Sequence[TableSpec] = ()) -> duckdb.DuckDBPyConnection:
        """The handle's connection, attaching on first use; `create`: make the lake, with the tables of
        `specs` in it, when there is none."""
        if not create and self._state.conn is None and not self.exists():
            # Before the lock: a reader need not wait while another thread creates the lake, nothing
            # can be committed in it before then.
            raise no_lake_error(self.data_dir)
        with self._attach_lock:
            if self._state.conn is None:
                if self.exists():
                    conn = attach(self.data_dir, self.read_only)
                elif create:
                    conn, made = create_catalog(self.data_dir, self.read_only, specs)
                    if made:  # this call's catalog is the lake's: its tables and options are as specs say
                        self._state.tables.update(spec.name for spec in specs)
                else:
                    raise no_lake_error(self.data_dir)
                if self.threads:
                    conn.execute(f"SET threads = {int(self.threads)}")
                self._state.conn = conn
            return self._state.conn

    @contextmanager
    def cursor(self, create: bool = False, *, begin: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the lake (default schema `lake`); closed afterwards so it holds no catalog lock.

        `begin`: inside a transaction that the caller ends. `USE` then joins that transaction: on its
        own it is one more, and each DuckLake transaction reads the catalog's snapshot (about 1.2 ms)."""
        cur = self._connection(create).cursor()
        try:
            if begin:
                cur.execute("BEGIN")
            cur.execute(f"USE {ALIAS}")
            yield cur
        finally:
            if begin:  # ended here rather than by the close, whose rollback could not report a failure
                _rollback_quietly(cur)
            cur.close()

    @contextmanager
    def all_threads(self) -> Iterator[None]:
        """DuckDB's default parallelism, for one big read (a search index build), on a handle opened
        with fewer threads. The setting is the handle's, not the statement's: hold it briefly."""
        if not self.threads:
            yield
            return
        conn = self._connection(create=False)
        conn.execute("RESET threads")
        try:
            yield
        finally:
            conn.execute(f"SET threads = {int(self.threads)}")

    def close(self) -> None:
        with self._attach_lock:
            if self._state.conn is not None:
                self._state.conn.close()
            self._state = _State()

    # ---- reading ------------------------------------------------------------------------------
    def snapshot_id(self) -> int:
        with self.reading() as (_, snapshot):
            return snapshot

    def last_change(self, tables: Sequence[str]) -> int:
        """The latest snapshot that changed any of `tables` (0: none visible): what a derived index compares.

        Snapshots that touched only other tables (evaluation results, say) leave it alone. This reads
        the SQLite catalog directly (well under a millisecond, no attach) and so is cheap enough to ask
        before every search; `last_change(cursor, tables)` asks DuckLake the same inside a transaction."""
        return catalog_last_change(self.data_dir, tables)

    def query(self, sql: str, params: Sequence[object] | None = None) -> pa.Table:
        """One statement at the latest snapshot; empty tables that were never created read as empty."""
        with self.cursor(begin=True) as cur:  # ended by the cursor: nothing to commit
            return cur.execute(sql, params or []).to_arrow_table()

    @contextmanager
    def reading(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, int]]:
        """(cursor, snapshot id) inside one read transaction: every query sees that snapshot."""
        with self.cursor(begin=True) as cur:  # ended by the cursor: nothing to commit
            yield cur, _current_snapshot(cur)

    def table_exists(self, name: str) -> bool:
        with self.cursor() as cur:
            found = cur.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?", [ALIAS, name]
            ).fetchone()
        return bool(found and found[0])

    # ---- writing ------------------------------------------------------------------------------
    def commit(self, changes: Sequence[Change], message: str | None = None) -> CommitResult:
        """Apply every change in one transaction, retrying it whole when another writer won a race."""
        self._ensure_tables(list({change.table.name: change.table for change in changes}.values()))
        deadline, attempt = time.monotonic() + RETRY_FOR_S, 0
        while True:
            attempt += 1
            try:
                with self._commit_lock:
                    result = self._commit_once(changes, message)
                result.attempts = attempt
                return result
            except duckdb.Error as exc:
                if not is_retryable(exc) or time.monotonic() > deadline:
                    raise
                log.debug("lake commit lost a race (attempt %d): %s", attempt, exc)
                time.sleep(min(2.0, 0.05 * 1.5**attempt) * (0.5 + random.random()))

    def _commit_once(self, changes: Sequence[Change], message: str | None) -> CommitResult:
        # A failure, or nothing to write, leaves the transaction to the cursor, which rolls it back.
        with self.cursor(create=True, begin=True) as cur:
            # DuckLake reloads a table's statistics from the catalog for every column the optimizer's
            # statistics pass asks about: half of each scope read's cost (measured: 4 reads 0.26 -> 0.13 s
            # on a new lake, 0.13 -> 0.085 s on a 5-paper one). Those reads filter one paper: no plan to gain.
            cur.execute("SET disabled_optimizers = 'statistics_propagation'")
            self._fire("begin")
            result = CommitResult(snapshot_id=None)
            for change in changes:
                deleted, inserted = apply(cur, change)
                result.deleted += deleted
                result.inserted += inserted
                self._fire(f"staged:{change.table.name}")
            if not (result.deleted or result.inserted):
                return result
            if message:
                cur.execute("CALL ducklake_set_commit_message(?, 'paperlake', ?)", [ALIAS, message])
            self._fire("before_commit")
            cur.execute("COMMIT")
        # The lake's snapshot right after this commit, as the catalog says: sqlite3 answers in 0.2 ms, a
        # DuckLake query in 2.7 ms (a transaction of its own).
        head = catalog_head(self.data_dir)
        result.snapshot_id = head[0] if head else None
        self._fire("committed")
        return result

    def _fire(self, event: str) -> None:
        for hook in list(self.hooks):
            hook(event)

    def prepare(self, specs: Sequence[TableSpec]) -> None:
        """Create the lake and these tables now, where the first commit would otherwise do it: a run can
        have it done while its first paper is still being parsed."""
        self._ensure_tables(specs)

    def _ensure_tables(self, specs: Sequence[TableSpec]) -> None:
        if all(spec.name in self._state.tables for spec in specs):
            return
        self._connection(create=True, specs=specs)  # a new lake is made with these tables in it
        if all(spec.name in self._state.tables for spec in specs):
            return
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            try:
                with self._commit_lock, self.cursor(create=True, begin=True) as cur:  # one snapshot for them all
                    missing = [spec for spec in specs if spec.name not in self._state.tables]
                    if not missing:  # another thread made them while this one waited
                        return
                    create_tables(cur, missing)  # a failure leaves the transaction to the cursor's rollback
                    self._state.tables.update(spec.name for spec in missing)
                return
            except duckdb.Error as exc:  # two processes creating the same table: the loser sees it next time
                if not is_retryable(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05 + random.random() * 0.2)


def last_change(cur: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> int:
    """Latest snapshot up to the cursor's own whose changes name one of `tables`.

    `ducklake_snapshots().changes` maps a kind of change (tables_created, inlined_insert,
    tables_inserted_into, tables_deleted_from, compaction...) to what it touched: a created table by
    its qualified name, everything else by table id. A table dropped and created again shows up by
    name, so old ids need no tracking. Expired snapshots vanish from the list; the value then moves,
    which costs a rebuild and can never make a stale index look fresh (expiry drops the oldest first)."""
    alias = sql_literal(ALIAS)
    ids = cur.execute(
        f"SELECT table_id::VARCHAR FROM ducklake_table_info({alias}) WHERE list_contains(?, table_name)", [list(tables)]
    ).fetchall()
    names = [f"main.{name}" for name in tables] + [f'main."{name}"' for name in tables]
    row = cur.execute(
        f"SELECT max(snapshot_id) FROM ducklake_snapshots({alias}) "
        f"WHERE snapshot_id <= (SELECT id FROM ducklake_current_snapshot({alias})) "
        "AND list_has_any(flatten(map_values(changes)), ?)",
        [[str(i[0]) for i in ids] + names],
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _current_snapshot(cur: duckdb.DuckDBPyConnection) -> int:
    row = cur.execute(f"SELECT id FROM ducklake_current_snapshot({sql_literal(ALIAS)})").fetchone()
    return int(row[0]) if row else 0


def _rollback_quietly(cur: duckdb.DuckDBPyConnection) -> None:
    try:
        cur.execute("ROLLBACK")
    except duckdb.Error:
        pass  # a failed COMMIT has already ended the transaction
