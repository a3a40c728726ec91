"""The lake layout before DuckLake, for comparison only: one Parquet file per paper per table.

Written and queried as paperlake's code did before the move (storage/lake.py and storage/catalog.py
at commit 6d87e31): each file zstd-compressed, fsynced and renamed into place (nodes, embeddings
with fixed-size vectors and no paper_id, extractions, then the `papers` row last), and read through
in-memory views `read_parquet('<table>/*.parquet', union_by_name = true)` over a zero-row
`_schema.parquet` per folder. Nothing here is used by the product.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from paperlake.files import write_atomically
from paperlake.ids import safe_file_stem
from paperlake.models import Node
from storage.duck import sql_literal
from storage.lake import nodes_to_table
from storage.schema import EXTRACTIONS, NODES, PAPERS

TABLES = ("papers", "nodes", "embeddings", "extractions")
SCHEMA_FILE = "_schema.parquet"


def _embeddings_schema(dim: int) -> pa.Schema:
    return pa.schema([("node_id", pa.string()), ("model", pa.string()), ("dim", pa.int32()),
                      ("embedding", pa.list_(pa.float32(), dim))])  # fmt: skip


def _embeddings_table(nodes: list[Node], model: str, vectors: np.ndarray) -> pa.Table:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = int(vectors.shape[1])
    return pa.table(
        {
            "node_id": pa.array([n.node_id for n in nodes], pa.string()),
            "model": pa.array([model] * len(nodes), pa.string()),
            "dim": pa.array([dim] * len(nodes), pa.int32()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), dim),
        },
        schema=_embeddings_schema(dim),
    )


def _write(table: pa.Table, path: Path, durable: bool = True) -> None:
    """zstd Parquet, whole or not at all (temporary file, fsync, rename, fsync of the folder).

    `durable=False` writes the same bytes without fsync: for building big comparison lakes fast."""
    if not durable:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, compression="zstd")
        return
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    write_atomically(path, [sink.getvalue().to_pybytes()])


class LegacyLake:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        schemas = {"papers": PAPERS.schema, "nodes": NODES.schema, "embeddings": _embeddings_schema(256),
                   "extractions": EXTRACTIONS.schema}  # fmt: skip
        for table, schema in schemas.items():
            if not (self.data_dir / table / SCHEMA_FILE).exists():
                _write(schema.empty_table(), self.data_dir / table / SCHEMA_FILE)

    def file_for(self, table: str, paper_id: str) -> Path:
        return self.data_dir / table / f"{safe_file_stem(paper_id)}.parquet"

    def write_paper(self, row: dict, nodes: list[Node], vectors: np.ndarray, model: str, extractions: list[dict],
                    durable: bool = True) -> None:  # fmt: skip
        """Every table's file of the paper rewritten, changed or not (the old code had no other way)."""
        pid = row["paper_id"]
        _write(nodes_to_table(nodes), self.file_for("nodes", pid), durable)
        _write(_embeddings_table(nodes, model, vectors), self.file_for("embeddings", pid), durable)
        parents = {n.node_id for n in nodes if n.kind == "parent"}
        kept = [r for r in extractions if r["parent_id"] in parents]
        if kept or self.file_for("extractions", pid).exists():
            _write(pa.Table.from_pylist(kept, schema=EXTRACTIONS.schema), self.file_for("extractions", pid), durable)
        _write(pa.Table.from_pylist([row], schema=PAPERS.schema), self.file_for("papers", pid), durable)

    def file_count(self) -> int:
        return sum(1 for table in TABLES for _ in (self.data_dir / table).glob("*.parquet"))

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB with the old catalog's views (as `paperlake sql` opened the lake)."""
        conn = duckdb.connect(":memory:")
        for table in TABLES:
            glob = sql_literal(str(self.data_dir.resolve() / table / "*.parquet"))
            conn.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet({glob}, union_by_name = true)")
        return conn
