"""The changes a commit applies, as SQL inside the caller's transaction (see `storage.lakehouse`).

`Replace` writes only differences: rows identical to a stored row are left alone (a full-row
comparison, vectors included), so re-writing an unchanged paper deletes and inserts nothing and
the transaction creates no snapshot.

Every statement that touches a DuckLake table pays several catalog round trips (measured: 10-40 ms
even for one row, whatever the rows), so a `Replace` reads its scope once and compares in memory,
then deletes only stale rows and inserts only fresh ones: a new paper costs one read and one insert
per table, an unchanged one a read only (bench/lake.py measures it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from storage.tables import TableSpec

ALIAS = "lake"
_NEW = "__paperlake_new_rows"
_OLD = "__paperlake_stored_rows"
_ROWID = "__paperlake_rowid"


@dataclass(frozen=True)
class Replace:
    """Make the rows of `table` that match `scope` (column -> value, or list of values) equal to `rows`."""

    table: TableSpec
    scope: Mapping[str, object]
    rows: pa.Table


@dataclass(frozen=True)
class Append:
    table: TableSpec
    rows: pa.Table


Change = Replace | Append


def create_or_extend(cur: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    """Create the table, or add the columns its spec gained since (columns are only ever added)."""
    existing = {row[0] for row in cur.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND table_name = ?", [ALIAS, spec.name]
    ).fetchall()}  # fmt: skip
    if not existing:
        cur.execute(spec.create_sql())
        if spec.sorted_by:
            cur.execute(f"ALTER TABLE {spec.name} SET SORTED BY ({', '.join(spec.sorted_by)})")
        return
    for name, ddl_type in spec.columns():
        if name not in existing:
            cur.execute(f"ALTER TABLE {spec.name} ADD COLUMN {name} {ddl_type}")


def create_tables(cur: duckdb.DuckDBPyConnection, specs: Sequence[TableSpec]) -> None:
    """Create (or extend) `specs` in the cursor's open transaction and commit it, one snapshot for them all,
    then set their options. A failure leaves the transaction open, to the caller's rollback."""
    for spec in specs:
        create_or_extend(cur, spec)
    cur.execute("COMMIT")
    set_table_options(cur, specs)


def set_table_options(cur: duckdb.DuckDBPyConnection, specs: Sequence[TableSpec]) -> None:
    """The tables' Parquet settings, kept in the catalog (no snapshot), in a transaction of their own:
    DuckLake refuses options for a table created in the same transaction."""
    current = dict(cur.execute(
        "SELECT scope_entry, value FROM ducklake_options(?) WHERE option_name = 'parquet_row_group_size'", [ALIAS]
    ).fetchall())  # fmt: skip
    wanted = [spec for spec in specs if spec.row_group_rows is not None and current.get(f"main.{spec.name}") != str(spec.row_group_rows)]
    if not wanted:
        return
    cur.execute("BEGIN")  # one catalog transaction for them all: a new lake's four took 34 ms, together 26
    for spec in wanted:
        cur.execute(f"CALL {ALIAS}.set_option('parquet_row_group_size', {int(spec.row_group_rows)}, table_name => ?)", [spec.name])
    cur.execute("COMMIT")


def _scope_sql(scope: Mapping[str, object], alias: str) -> tuple[str, list[object]]:
    clauses, params = [], []
    for column, value in scope.items():
        if isinstance(value, (list, tuple, set, frozenset)):
            clauses.append(f"list_contains(?, {alias}.{column})")
            params.append(list(value))
        else:
            clauses.append(f"{alias}.{column} = ?")
            params.append(value)
    return " AND ".join(clauses) or "true", params


def _check_scope(change: Replace, rows: pa.Table) -> None:
    """Rows outside a Replace's scope would never be replaced again: duplicates. Refuse them."""
    for column, value in change.scope.items():
        allowed = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
        outside = set(rows.column(column).unique().to_pylist()) - set(allowed)
        if outside:
            raise ValueError(f"{change.table.name}: rows with {column} {sorted(map(str, outside))[:3]} outside the replaced scope")


def _insert(cur: duckdb.DuckDBPyConnection, spec: TableSpec, rows: pa.Table) -> int:
    if not rows.num_rows:
        return 0
    columns = ", ".join(spec.schema.names)
    cur.register(_NEW, rows)
    try:
        return int(cur.execute(f"INSERT INTO {spec.name} ({columns}) SELECT {columns} FROM {_NEW}").fetchone()[0])
    finally:
        cur.unregister(_NEW)


def _unchanged(spec: TableSpec, stored: pa.Table, rows: pa.Table) -> bool:
    """Whether the stored rows are exactly `rows` (the common re-run): one Arrow comparison, no query.
    False may be wrong (types that cast differently); `_diff` then decides row by row."""
    if stored.num_rows != rows.num_rows or not spec.key:
        return False
    order = [(column, "ascending") for column in spec.key]
    try:
        ours = stored.drop_columns([_ROWID]).cast(spec.schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return False
    return ours.sort_by(order).equals(rows.sort_by(order))


def _diff(cur: duckdb.DuckDBPyConnection, spec: TableSpec, stored: pa.Table, rows: pa.Table) -> tuple[list[int], pa.Table]:
    """(rowids of stored rows no new row equals, new rows no stored row equals): in memory, no lake access."""
    same = " AND ".join(f"n.{c} IS NOT DISTINCT FROM o.{c}" for c in spec.schema.names)
    cur.register(_OLD, stored)
    cur.register(_NEW, rows)
    try:
        stale = [row[0] for row in cur.execute(f"SELECT o.{_ROWID} FROM {_OLD} o ANTI JOIN {_NEW} n ON {same}").fetchall()]
        fresh = cur.execute(f"SELECT n.* FROM {_NEW} n ANTI JOIN {_OLD} o ON {same}").to_arrow_table()
    finally:
        cur.unregister(_NEW)
        cur.unregister(_OLD)
    return stale, fresh


def apply(cur: duckdb.DuckDBPyConnection, change: Change) -> tuple[int, int]:
    """(rows deleted, rows inserted) by one change, inside the caller's transaction."""
    spec = change.table
    rows = spec.conform(change.rows)
    if isinstance(change, Append):
        return 0, _insert(cur, spec, rows)
    _check_scope(change, rows)
    where, params = _scope_sql(change.scope, spec.name)
    columns = ", ".join(spec.schema.names)
    stored = cur.execute(f"SELECT rowid AS {_ROWID}, {columns} FROM {spec.name} WHERE {where}", params).to_arrow_table()
    if not stored.num_rows:
        return 0, _insert(cur, spec, rows)
    if _unchanged(spec, stored, rows):
        return 0, 0
    stale, fresh = _diff(cur, spec, stored, rows)
    deleted = 0
    if stale:
        deleted = int(cur.execute(f"DELETE FROM {spec.name} WHERE {where} AND list_contains(?, rowid)",
                                  [*params, stale]).fetchone()[0])  # fmt: skip
    return deleted, _insert(cur, spec, fresh)
