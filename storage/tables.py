"""A table of the lake, described once: its Arrow schema, its key, how its files are sorted.

Any module can define a `TableSpec` (the evaluation and answer tables do) and hand rows to the lake;
the lake creates the table on first use and adds columns a spec gained later. Columns are only ever
added: existing ones keep their name and meaning (a contract with users' SQL).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE",
    pa.list_(pa.string()): "VARCHAR[]",
    pa.list_(pa.float32()): "FLOAT[]",  # DuckLake stores lists, not fixed-size arrays
}


def duckdb_type(arrow_type: pa.DataType) -> str:
    try:
        return _DUCKDB_TYPES[arrow_type]
    except KeyError:
        raise TypeError(f"no lake column type for Arrow {arrow_type}") from None


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: pa.Schema
    key: tuple[str, ...]  # identifies a row: rows handed to the lake never repeat a key
    sorted_by: tuple[str, ...] = ()  # files sorted by these columns prune well for filters on them
    # Rows per Parquet row group (DuckDB's default is 122,880): the unit a filter skips or reads, so small
    # groups keep one paper's rows a small read once maintenance has merged many papers into one file.
    row_group_rows: int | None = None

    def columns(self) -> list[tuple[str, str]]:
        return [(f.name, duckdb_type(f.type)) for f in self.schema]

    def create_sql(self) -> str:
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(f'{n} {t}' for n, t in self.columns())})"

    def empty(self) -> pa.Table:
        return self.schema.empty_table()

    def conform(self, rows: pa.Table) -> pa.Table:
        """`rows` with exactly this spec's columns and types (absent columns are null); keys unique."""
        columns = [
            rows.column(f.name).cast(f.type) if f.name in rows.column_names else pa.nulls(rows.num_rows, f.type)
            for f in self.schema
        ]
        table = pa.Table.from_arrays(columns, schema=self.schema)
        if table.num_rows and self.key:
            keys = table.select(list(self.key)).group_by(list(self.key)).aggregate([([], "count_all")])
            if pc.max(keys.column("count_all")).as_py() > 1:
                raise ValueError(f"{self.name}: rows repeat a key {self.key}")
        return table

    def rows(self, records: list[dict]) -> pa.Table:
        return self.conform(pa.Table.from_pylist(records, schema=self.schema))
