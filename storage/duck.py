"""DuckDB connections with DuckDB's signed extensions loaded from their PyPI packages.

Each `duckdb-extension-<name>` wheel ships the binary DuckDB Labs signed for one DuckDB release, under
`duckdb_extension_<name>/extensions/v<release>/<name>.duckdb_extension`. We LOAD it from there with
signature checks left on, and switch off DuckDB's auto-install and auto-load: nothing is ever fetched
from the network, and a missing or mismatched wheel is a clear error instead of a download attempt.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import duckdb

from paperlake.errors import ConfigError

LAKE_EXTENSIONS = ("sqlite_scanner", "ducklake")


@lru_cache(maxsize=None)
def extension_path(name: str) -> Path:
    """The signed binary of extension `name` for the installed DuckDB release."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or spec.origin is None:
        raise ConfigError(f"DuckDB extension {name!r} is not installed: pip install duckdb-extension-{name.replace('_', '-')}"
                          f"=={duckdb.__version__} (run `make install`)")  # fmt: skip
    path = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise ConfigError(f"DuckDB extension {name!r} has no build for DuckDB {duckdb.__version__} ({path.parent.parent}): "
                          "duckdb and its extension packages must be pinned to the same release")  # fmt: skip
    return path


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def load_statements(extensions: Iterable[str] = LAKE_EXTENSIONS) -> list[str]:
    return [f"LOAD {sql_literal(str(extension_path(name)))}" for name in extensions]


def connect(extensions: Iterable[str] = LAKE_EXTENSIONS) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with `extensions` loaded from their packages; nothing auto-installs."""
    conn = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for statement in load_statements(extensions):
        conn.execute(statement)
    return conn
