"""Build the search index from the lake: one read transaction, streamed in record batches.

Vectors go from DuckDB's Arrow batches straight into a memory-mapped .npy (no Python object per
vector); texts of parents and children are tokenized batch by batch for BM25 and only parents' are kept.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from storage.lakehouse import Lakehouse, last_change
from storage.search_bm25 import build_bm25
from storage.search_index import INDEXED_TABLES, KINDS, Meta, SearchIndex, new_build_folder, open_current, publish
from storage.search_text import FlatDocs, save_bm25
from storage.search_tokens import TokenReuse, save_tokens
from storage.search_vectors import VectorReuse, list_vectors, snapshot_time

_BATCH_ROWS = 20_000
_JOIN = "FROM nodes n JOIN embeddings e ON e.node_id = n.node_id AND e.model = $model"
_PARENTS_WITH_VECTORS = f"SELECT n.node_id {_JOIN} WHERE n.kind = 'parent'"
# Each group's rows, sorted by paper: (where, order). Children and derived nodes need a searchable parent.
_GROUPS = {
    "parents": ("n.kind = 'parent'", "n.paper_id, n.position"),
    "children": (f"n.kind = 'child' AND n.parent_id IN ({_PARENTS_WITH_VECTORS})", "n.paper_id, n.chunk_size, n.position"),
    "derived": (f"n.kind IN ('summary', 'question') AND n.parent_id IN ({_PARENTS_WITH_VECTORS})",
                "n.paper_id, n.kind, n.position"),
}  # fmt: skip


def build_index(house: Lakehouse, model: str, root: Path) -> SearchIndex:
    """Build from the lake's current snapshot and publish it under `root` (call under the build lock)."""
    tmp = new_build_folder(root)
    previous = open_current(root)  # its tokens are reused for passages it already holds
    try:
        with house.reading() as (cur, snapshot):
            meta = _write_build(cur, model, tmp, snapshot, last_change(cur, INDEXED_TABLES), previous)
        return SearchIndex(publish(root, tmp, meta))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _tables_exist(cur: duckdb.DuckDBPyConnection) -> bool:
    found = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('nodes', 'embeddings', 'papers') "
                        "AND database_name = current_database()").fetchone()  # fmt: skip
    return bool(found) and found[0] == 3


def _write_table(path: Path, table: pa.Table) -> None:
    with ipc.new_file(str(path), table.schema) as writer:
        writer.write_table(table)


def _write_build(cur: duckdb.DuckDBPyConnection, model: str, tmp: Path, snapshot: int, change: int,
                 previous: SearchIndex | None = None) -> Meta:  # fmt: skip
    if not _tables_exist(cur):
        return _write_empty(tmp, model, snapshot, change)
    p = {"model": model}
    papers = cur.execute(f"SELECT DISTINCT n.paper_id, p.title {_JOIN} LEFT JOIN papers p ON p.paper_id = n.paper_id "
                         "ORDER BY n.paper_id", p).to_arrow_table()  # fmt: skip
    models = {m: (low, high) for m, low, high in cur.execute("SELECT model, min(dim), max(dim) FROM embeddings GROUP BY model").fetchall()}
    others = sorted(m for m in models if m != model)
    dims = models.get(model)
    if dims is None or dims[0] is None:
        return _write_empty(tmp, model, snapshot, change, tuple(others))
    if dims[0] != dims[1]:
        raise ValueError(f"the lake holds {model} vectors of different sizes ({dims[0]} and {dims[1]})")
    # One pass for the three counts (each its own join cost as much as reading the rows).
    filters = ", ".join(f"count(*) FILTER (WHERE {where})" for where, _ in _GROUPS.values())
    counts = dict(zip(_GROUPS, map(int, cur.execute(f"SELECT {filters} {_JOIN}", p).fetchone()), strict=True))
    _write_table(tmp / "papers.arrow", papers.cast(pa.schema([("paper_id", pa.string()), ("title", pa.string())])))
    # Each node id of the previous build -> its row there, made once: tokens and vectors both look passages up in it.
    known = {node_id: row for row, node_id in enumerate(previous.node_ids.to_pylist())} if previous is not None else {}
    vectors = VectorReuse(previous, known, cur, model, snapshot, int(dims[0]))
    writer = _BuildWriter(tmp, sum(counts.values()), int(dims[0]), papers, previous, vectors, known)
    for group, (where, order) in _GROUPS.items():
        text = "n.text" if group != "derived" else "NULL::VARCHAR AS text"
        embedding = ", e.embedding" if not vectors.active else ""  # else copied from the previous build
        sql = (f"SELECT n.node_id, n.paper_id, n.kind, n.parent_id, n.page_start, n.page_end, {text}{embedding} "
               f"{_JOIN} WHERE {where} ORDER BY {order}")  # fmt: skip
        writer.write_group(group, _batches(cur, sql, p))
    vectors.finish(writer.vectors, cur, model, int(dims[0]))
    writer.finish()
    return Meta(model, int(dims[0]), counts["parents"], counts["children"], counts["derived"], snapshot, change, tuple(others),
                reused_passages=writer.reuse.reused, reused_vectors=vectors.reused, snapshot_time=snapshot_time(cur, snapshot))  # fmt: skip


def _batches(cur: duckdb.DuckDBPyConnection, sql: str, params: dict) -> Iterator[pa.RecordBatch]:
    reader = cur.execute(sql, params).to_arrow_reader(_BATCH_ROWS)
    yield from reader


def _write_empty(tmp: Path, model: str, snapshot: int, change: int, others: tuple[str, ...] = ()) -> Meta:
    _write_table(tmp / "papers.arrow", pa.table({"paper_id": pa.array([], pa.string()), "title": pa.array([], pa.string())}))
    _BuildWriter(tmp, 0, 0, pa.table({"paper_id": pa.array([], pa.string())})).finish()
    return Meta(model, 0, 0, 0, 0, snapshot, change, others)


class _BuildWriter:
    """Receives each group's batches in row order and writes the build's files."""

    def __init__(self, tmp: Path, n_rows: int, dim: int, papers: pa.Table, previous: SearchIndex | None = None,
                 vectors: VectorReuse | None = None, known: dict[str, int] | None = None) -> None:  # fmt: skip
        self.tmp, self.dim, self.row, self.vector_reuse, self.known = tmp, dim, 0, vectors, known or {}
        self.titles = papers.column("title").to_pylist() if "title" in papers.column_names else []
        self.reuse = TokenReuse(previous, {pid: t or "" for pid, t in zip(papers.column("paper_id").to_pylist(), self.titles, strict=False)})
        self.paper_ids = papers.column("paper_id")
        self.vectors = np.lib.format.open_memmap(tmp / "vectors.npy", mode="w+", dtype=np.float32, shape=(n_rows, dim))
        self.paper = np.empty(n_rows, np.int32)
        self.parent = np.empty(n_rows, np.int32)
        self.kind = np.empty(n_rows, np.int8)
        self.node_ids: list[pa.Array] = []
        self.parent_columns: list[pa.RecordBatch] = []
        self.tokens: dict[str, list[FlatDocs]] = {"parents": [], "children": []}

    def write_group(self, group: str, batches: Iterator[pa.RecordBatch]) -> None:
        parent_ids = None
        if group != "parents":
            parent_ids = pa.concat_arrays([b.column(0) for b in self.parent_columns]) if self.parent_columns else pa.array([], pa.string())
        for batch in batches:
            n, rows = batch.num_rows, slice(self.row, self.row + batch.num_rows)
            known = self.known
            before = np.fromiter((known.get(node_id, -1) for node_id in batch.column(0).to_pylist()), np.int64, n) if known \
                else np.full(n, -1, np.int64)  # fmt: skip
            if "embedding" in batch.schema.names:
                self.vectors[rows] = list_vectors(batch.column(batch.schema.get_field_index("embedding")), self.dim)
            else:
                assert self.vector_reuse is not None
                self.vector_reuse.fill(self.vectors, self.row, batch.column(0), before)
            papers = pc.index_in(batch.column(1), value_set=self.paper_ids).to_numpy(zero_copy_only=False)
            self.paper[rows] = papers
            self.kind[rows] = pc.index_in(batch.column(2), value_set=pa.array(KINDS)).to_numpy(zero_copy_only=False)
            if parent_ids is None:
                self.parent[rows] = np.arange(self.row, self.row + n, dtype=np.int32)
                self.parent_columns.append(batch.select(["node_id", "text", "page_start", "page_end"]))
            else:
                self.parent[rows] = pc.index_in(batch.column(3), value_set=parent_ids).to_numpy(zero_copy_only=False)
            self.node_ids.append(batch.column(0))
            if group in self.tokens:
                self._tokenize(group, before, batch.column(6), papers)
            self.row += n

    def _tokenize(self, group: str, previous_rows: np.ndarray, texts: pa.Array, papers: np.ndarray) -> None:
        """Contextual chunk headers: the paper's title goes with every passage it indexes."""

        def headed(rows: np.ndarray) -> list[str]:  # only rows to tokenize become Python strings
            titles = [self.titles[p] if p < len(self.titles) else None for p in papers[rows].tolist()]
            return [f"{title or ''}\n{text or ''}" for title, text in zip(titles, texts.take(pa.array(rows)).to_pylist(), strict=True)]

        self.tokens[group].append(self.reuse.encode(group, previous_rows, headed))

    def finish(self) -> None:
        self.vectors.flush()
        del self.vectors
        for name, array in (("paper", self.paper), ("parent", self.parent), ("kind", self.kind)):
            np.save(self.tmp / f"{name}.npy", array)
        ids = pa.concat_arrays(self.node_ids) if self.node_ids else pa.array([], pa.string())
        _write_table(self.tmp / "nodes.arrow", pa.table({"node_id": ids.cast(pa.string())}))
        schema = pa.schema([("node_id", pa.string()), ("text", pa.string()), ("page_start", pa.int32()), ("page_end", pa.int32())])
        parents = pa.Table.from_batches(self.parent_columns) if self.parent_columns else schema.empty_table()
        _write_table(self.tmp / "parents.arrow", parents.select(["text", "page_start", "page_end"]))
        groups = {g: FlatDocs(*(np.concatenate([getattr(b, f) for b in batches] or [np.zeros(0, np.int64)]) for f in ("ids", "lengths")))
                  for g, batches in self.tokens.items()}  # fmt: skip
        vocabulary, groups = self.reuse.finish(groups)
        tokens = vocabulary.tokens()
        vocab = np.asarray(tokens, dtype=f"U{max((len(t) for t in tokens), default=1)}")
        order = np.argsort(vocab, kind="stable")
        np.save(self.tmp / "vocab.npy", vocab[order])
        np.save(self.tmp / "vocab_ids.npy", order.astype(np.int32))
        for group, docs in groups.items():
            save_tokens(self.tmp, group, docs)
            save_bm25(build_bm25(docs, vocabulary), self.tmp / f"bm25_{group}")
