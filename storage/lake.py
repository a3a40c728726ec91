"""The Parquet lake: one file per paper per table, each replaced atomically.

Readers (DuckDB globs over `<table>/*.parquet`) never see a partial file: files are written
under a name that does not end in `.parquet`, flushed, then renamed over the old one. Work
on one paper by two processes (a scheduled run and a user's command) is serialised by a
per-paper file lock, so the lake ends with exactly one consistent copy of each paper.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from paperlake.ids import safe_file_stem
from paperlake.models import Node
from storage.schema import EXTRACTIONS, NODES, PAPERS, embeddings_schema

TABLE_NAMES = ("papers", "nodes", "embeddings", "extractions")
SCHEMA_FILE = "_schema.parquet"  # zero rows, the table's columns; never a paper (stems never start with "_")
DERIVED_KINDS = ("summary", "question")


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write `table` to `path` so that `path` is always either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def nodes_to_table(nodes: list[Node]) -> pa.Table:
    columns = {name: [getattr(node, name) for node in nodes] for name in NODES.names}
    return pa.table(columns, schema=NODES)


def table_to_nodes(table: pa.Table) -> list[Node]:
    return [Node(**{name: row[name] for name in NODES.names}) for row in table.to_pylist()]


def embeddings_table(node_ids: list[str], model: str, vectors: np.ndarray) -> pa.Table:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = int(vectors.shape[1]) if vectors.ndim == 2 else 0
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    return pa.table(
        {
            "node_id": pa.array(node_ids, pa.string()),
            "model": pa.array([model] * len(node_ids), pa.string()),
            "dim": pa.array([dim] * len(node_ids), pa.int32()),
            "embedding": pa.FixedSizeListArray.from_arrays(flat, dim),
        },
        schema=embeddings_schema(dim),
    )


class Lake:
    """Files of the lake under one data directory. Holds no open handles between calls."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.locks_dir = self.data_dir / ".locks"
        self.pdf_dir = self.data_dir / "pdfs"

    def file_for(self, table: str, paper_id: str) -> Path:
        return self.data_dir / table / f"{safe_file_stem(paper_id)}.parquet"

    def pdf_path(self, paper_id: str, version: str | None) -> Path:
        return self.pdf_dir / f"{safe_file_stem(paper_id)}{version or ''}.pdf"

    @contextmanager
    def paper_lock(self, paper_id: str, timeout_s: float = 3600) -> Iterator[None]:
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(self.locks_dir / f"{safe_file_stem(paper_id)}.lock", timeout=timeout_s):
            yield

    def sweep_partial_files(self, paper_id: str) -> int:
        """Remove what a killed writer of this paper left (never visible to readers, only clutter).

        Call under `paper_lock`: then no live writer of this paper can own them."""
        stem = safe_file_stem(paper_id)
        patterns = [(self.data_dir / t, f".{stem}.parquet.*.tmp") for t in TABLE_NAMES]
        patterns += [(self.pdf_dir, f".{stem}.pdf.*.part"), (self.pdf_dir, f".{stem}v*.pdf.*.part")]
        leftovers = [path for folder, pattern in patterns for path in folder.glob(pattern)]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return len(leftovers)

    def _read(self, table: str, paper_id: str) -> pa.Table | None:
        path = self.file_for(table, paper_id)
        return pq.read_table(path) if path.exists() else None

    def read_paper(self, paper_id: str) -> dict | None:
        table = self._read("papers", paper_id)
        return table.to_pylist()[0] if table is not None and table.num_rows else None

    def read_nodes(self, paper_id: str) -> list[Node]:
        table = self._read("nodes", paper_id)
        return table_to_nodes(table.select(NODES.names)) if table is not None else []

    def read_extractions(self, paper_id: str) -> list[dict]:
        table = self._read("extractions", paper_id)
        return table.to_pylist() if table is not None else []

    def list_papers(self) -> list[dict]:
        folder = self.data_dir / "papers"
        paths = [path for path in sorted(folder.glob("*.parquet")) if path.name != SCHEMA_FILE]
        rows = [pq.read_table(path).to_pylist()[0] for path in paths]
        return sorted(rows, key=lambda row: row["paper_id"])

    def write_paper(self, row: dict, nodes: list[Node], vectors: np.ndarray, model: str, extractions: list[dict] | None = None) -> None:
        """Replace a paper's nodes, embeddings and extractions (default: the current ones), then its
        `papers` row (last: it marks completion). Call under `paper_lock`.

        Extraction rows whose parent is no longer among `nodes` are dropped.
        """
        paper_id = row["paper_id"]
        write_parquet_atomic(nodes_to_table(nodes), self.file_for("nodes", paper_id))
        ids = [node.node_id for node in nodes]
        write_parquet_atomic(embeddings_table(ids, model, vectors), self.file_for("embeddings", paper_id))
        parent_ids = {node.node_id for node in nodes if node.kind == "parent"}
        rows = self.read_extractions(paper_id) if extractions is None else extractions
        kept = [r for r in rows if r["parent_id"] in parent_ids]
        if kept or self.file_for("extractions", paper_id).exists():
            self.write_extractions(paper_id, kept)
        write_parquet_atomic(pa.Table.from_pylist([row], schema=PAPERS), self.file_for("papers", paper_id))

    def write_failure(self, row: dict) -> bool:
        """Record a failed paper, unless the lake already holds a good copy of it (kept, not clobbered).

        Returns whether the row was written. Call under `paper_lock`.
        """
        previous = self.read_paper(row["paper_id"])
        if previous is not None and previous["status"] == "ok":
            return False
        write_parquet_atomic(pa.Table.from_pylist([row], schema=PAPERS), self.file_for("papers", row["paper_id"]))
        return True

    def write_extractions(self, paper_id: str, rows: list[dict]) -> None:
        write_parquet_atomic(pa.Table.from_pylist(rows, schema=EXTRACTIONS), self.file_for("extractions", paper_id))

    def derived_nodes(self, paper_id: str, parent_ids: set[str]) -> list[Node]:
        """Summary and question nodes already in the lake whose parent still exists."""
        return [n for n in self.read_nodes(paper_id) if n.kind in DERIVED_KINDS and n.parent_id in parent_ids]
