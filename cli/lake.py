"""`paperlake sql`: read the lake with DuckDB SQL."""

from __future__ import annotations

import argparse
from typing import Any

from paperlake.errors import PaperlakeError
from paperlake.settings import Settings


def register(commands: Any) -> None:
    sql = commands.add_parser("sql", help="run a SQL query over the lake's tables and print the result")
    sql.add_argument("query")
    sql.add_argument("--max-rows", type=int, default=40)
    sql.set_defaults(handler=cmd_sql)


def cmd_sql(args: argparse.Namespace, settings: Settings) -> int:
    import duckdb

    from storage.catalog import connect

    with connect(settings.data_dir) as conn:
        try:
            relation = conn.sql(args.query)
        except duckdb.Error as exc:  # the user's SQL: one line back, not a traceback
            raise PaperlakeError(str(exc).splitlines()[0]) from None
        if relation is not None:  # None: a statement without a result
            relation.show(max_rows=args.max_rows, max_width=200)
    return 0
