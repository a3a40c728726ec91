"""The changes a commit applies, as SQL inside the caller's transaction (see `storage.lakehouse`).

`Replace` writes only differences: rows identical to a stored row are left alone (a full-row
comparison, vectors included), so re-writing an unchanged paper deletes and inserts nothing and
the transaction creates no snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from storage.tables import TableSpec

ALIAS = "lake"
_NEW = "__paperlake_new_rows"


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


def apply(cur: duckdb.DuckDBPyConnection, change: Change) -> tuple[int, int]:
    """(rows deleted, rows inserted) by one change, inside the caller's transaction."""
    spec = change.table
    rows = spec.conform(change.rows)
    if isinstance(change, Replace):
        _check_scope(change, rows)
    columns = ", ".join(spec.schema.names)
    cur.register(_NEW, rows)
    try:
        if isinstance(change, Append):
            inserted = cur.execute(f"INSERT INTO {spec.name} ({columns}) SELECT {columns} FROM {_NEW}").fetchone()[0]
            return 0, int(inserted)
        same = " AND ".join(f"n.{c} IS NOT DISTINCT FROM o.{c}" for c in spec.schema.names)
        where, params = _scope_sql(change.scope, "o")
        stale = f"SELECT o.rowid FROM {spec.name} o ANTI JOIN {_NEW} n ON {same} WHERE {where}"
        deleted = cur.execute(f"DELETE FROM {spec.name} WHERE rowid IN ({stale})", params).fetchone()[0]
        current = f"(SELECT * FROM {spec.name} o WHERE {where})"
        fresh = f"SELECT {', '.join('n.' + c for c in spec.schema.names)} FROM {_NEW} n ANTI JOIN {current} o ON {same}"
        inserted = cur.execute(f"INSERT INTO {spec.name} ({columns}) {fresh}", params).fetchone()[0]
        return int(deleted), int(inserted)
    finally:
        cur.unregister(_NEW)
