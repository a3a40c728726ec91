"""`paperlake sql` and `paperlake shell`: the lake, read-only, from any directory."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from paperlake.errors import PaperlakeError
from paperlake.settings import Settings

FORMATS = ("table", "csv", "json")


def register(commands: Any) -> None:
    sql = commands.add_parser("sql", help="run a SQL query over the lake (read-only) and print the result")
    sql.add_argument("query")
    sql.add_argument("--format", choices=FORMATS, default="table", help="csv: a header line; json: one object a line")
    sql.add_argument("--max-rows", type=int, default=40, help="rows shown by --format table")
    sql.set_defaults(handler=cmd_sql)

    shell = commands.add_parser("shell", help="the DuckDB shell with the lake attached read-only")
    shell.add_argument("--print", action="store_true", help="print the statements that attach the lake, for `duckdb -cmd`")
    shell.set_defaults(handler=cmd_shell)

    maintain = commands.add_parser("maintain", help="merge small files, expire old snapshots, delete unreferenced files")
    maintain.add_argument("--retention-days", type=float, default=None, help="default: PAPERLAKE_SNAPSHOT_RETENTION_DAYS")
    maintain.set_defaults(handler=cmd_maintain)

    migrate = commands.add_parser("migrate", help="move a lake in the old per-paper Parquet layout into DuckLake")
    migrate.set_defaults(handler=cmd_migrate)


def cmd_sql(args: argparse.Namespace, settings: Settings) -> int:
    import duckdb

    from storage.lakehouse import connect_read_only

    with connect_read_only(settings.data_dir) as conn:
        try:
            relation = conn.sql(args.query)
        except duckdb.Error as exc:  # the user's SQL: one line back, not a traceback
            raise PaperlakeError(str(exc).splitlines()[0]) from None
        if relation is None:  # a statement without a result
            return 0
        if args.format == "table":
            relation.show(max_rows=args.max_rows, max_width=200)
        else:
            _write_rows(relation, args.format)
    return 0


def _write_rows(relation: Any, fmt: str) -> None:
    """csv with a header line, or JSON Lines, on stdout, through DuckDB's own writers (types kept right)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"rows.{fmt}"
        if fmt == "csv":
            relation.write_csv(str(out), header=True)
        else:
            relation.query("rows", f"COPY (SELECT * FROM rows) TO '{out}' (FORMAT json)")
        sys.stdout.write(out.read_text(encoding="utf-8"))


def cmd_shell(args: argparse.Namespace, settings: Settings) -> int:
    from storage.duck import load_statements
    from storage.lakehouse import ALIAS, attach_sql, lake_exists, no_lake_error

    if not lake_exists(settings.data_dir):
        raise no_lake_error(settings.data_dir)
    duckdb_cli = Path(sys.executable).with_name("duckdb")  # duckdb-cli, pinned with the library
    init = "; ".join([*load_statements(), attach_sql(settings.data_dir, read_only=True), f"USE {ALIAS}"]) + ";"
    if args.print:
        print(init)
        return 0
    os.execv(duckdb_cli, [str(duckdb_cli), "-cmd", init])
    return 0  # not reached


def cmd_maintain(args: argparse.Namespace, settings: Settings) -> int:
    from tasks.maintain import maintain_lake

    print(maintain_lake(settings, args.retention_days).summary())
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from storage.migrate import migrate

    done = migrate(settings.data_dir)
    counts = ", ".join(f"{rows} {table}" for table, rows in done.rows.items())
    print(f"migrated {len(done.papers)} papers ({counts}); the old files are in {done.moved_to}")
    return 0
