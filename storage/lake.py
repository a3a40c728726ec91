"""Papers in the lake: each paper's row, nodes, vectors and extractions change together, in one commit.

A reader sees a paper's old version or its new one, never a mix; a failure before the commit leaves
the old version untouched. Writers of one paper are serialised by a per-paper file lock, and every
read that decides what to write (carried-over and merged extractions) happens under it, from
committed state only. A paper the lake has never held is appended without reading its (empty)
scopes first, which the lock makes safe: the second of two first-time writers waits, then finds
the first one's row and replaces instead (without the lock both append: the concurrency test in
tests/tasks/test_ingest_processes.py then finds duplicates).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from filelock import FileLock

from paperlake.ids import safe_file_stem
from paperlake.models import Node
from storage.catalog import catalog_head
from storage.lakehouse import Append, CommitResult, Lakehouse, NoLakeError, Replace, no_lake_error
from storage.papers_memo import SKIP_COLUMNS, PapersMemo
from storage.schema import EMBEDDINGS, EXTRACTIONS, NODES, PAPER_TABLES, PAPERS

log = logging.getLogger(__name__)

DERIVED_KINDS = ("summary", "question")


def nodes_to_table(nodes: list[Node]) -> pa.Table:
    columns = {name: [getattr(node, name) for node in nodes] for name in NODES.schema.names}
    return pa.table(columns, schema=NODES.schema)


def table_to_nodes(table: pa.Table) -> list[Node]:
    return [Node(**row) for row in table.select(NODES.schema.names).to_pylist()]


def embeddings_table(nodes: list[Node], model: str, vectors: np.ndarray) -> pa.Table:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = int(vectors.shape[1]) if vectors.ndim == 2 and len(nodes) else 0
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(len(nodes) + 1, dtype=np.int32) * dim, type=pa.int32())
    return pa.table(
        {
            "node_id": pa.array([n.node_id for n in nodes], pa.string()),
            "model": pa.array([model] * len(nodes), pa.string()),
            "dim": pa.array([dim] * len(nodes), pa.int32()),
            "embedding": pa.ListArray.from_arrays(offsets, flat),
            "paper_id": pa.array([n.paper_id for n in nodes], pa.string()),
        },
        schema=EMBEDDINGS.schema,
    )


class Lake:
    """The paper-level view of the lake under one data directory (plus downloaded PDFs and locks)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.locks_dir = self.data_dir / ".locks"
        self.pdf_dir = self.data_dir / "pdfs"
        # One DuckDB thread per statement: a run works on as many papers at once as it has workers, and
        # each statement is one paper's, small; DuckDB's own threads only contended with them and with
        # the parser's processes (measured: a new paper's commit 55 -> 40 ms of CPU, a cold ingest of the
        # corpus 1.25 -> 1.13 s). A big read through this handle asks for `house.all_threads()`.
        self.house = Lakehouse(self.data_dir, threads=1)
        self.memo = PapersMemo(self.data_dir)

    @property
    def hooks(self) -> list:
        """The storage seam: callables told "begin", "staged:<table>", "before_commit", "committed"."""
        return self.house.hooks

    def pdf_path(self, paper_id: str, version: str | None) -> Path:
        return self.pdf_dir / f"{safe_file_stem(paper_id)}{version or ''}.pdf"

    @contextmanager
    def paper_lock(self, paper_id: str, timeout_s: float = 3600) -> Iterator[None]:
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(self.locks_dir / f"{safe_file_stem(paper_id)}.lock", timeout=timeout_s):
            yield

    def sweep_partial_files(self, paper_id: str) -> int:
        """Remove the partial downloads a killed writer left (never visible, only clutter). Call under `paper_lock`."""
        stem = safe_file_stem(paper_id)
        leftovers = [*self.pdf_dir.glob(f".{stem}.pdf.*.part"), *self.pdf_dir.glob(f".{stem}v*.pdf.*.part")]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return len(leftovers)

    # ---- reading committed state ----------------------------------------------------------------
    def _rows(self, sql: str, params: list[object]) -> pa.Table | None:
        """None when there is no lake yet, or not yet this table: both read as "nothing stored"."""
        try:
            return self.house.query(sql, params)
        except NoLakeError:
            return None
        except Exception as exc:  # a table no commit has created yet
            if "does not exist" in str(exc):
                return None
            raise

    def read_paper(self, paper_id: str) -> dict | None:
        return self.read_papers([paper_id]).get(paper_id)

    def read_papers(self, paper_ids: list[str]) -> dict[str, dict]:
        """The `papers` rows of these papers, by id, in one statement (each costs catalog round trips)."""
        if not paper_ids:
            return {}
        table = self._rows("SELECT * FROM papers WHERE list_contains(?, paper_id)", [sorted(set(paper_ids))])
        rows = table.select(PAPERS.schema.names).to_pylist() if table is not None else []
        return {row["paper_id"]: row for row in rows}

    def current_papers(self, paper_ids: list[str]) -> dict[str, dict]:
        """The skip check's columns (SKIP_COLUMNS) of these papers' committed rows, by id: from the memo
        when no commit came since it was written (the lake is then not even opened), else from the
        lake, whose answer the memo keeps for the next run."""
        head = catalog_head(self.data_dir)
        if head is None or not paper_ids:
            return {}
        found = self.memo.read(head, paper_ids)
        if found is not None:
            return found
        wanted = set(paper_ids)
        return {row["paper_id"]: row for row in self.remember_papers(head).to_pylist() if row["paper_id"] in wanted}

    def remember_papers(self, head: tuple[int, str] | None = None) -> pa.Table:
        """Every paper's SKIP_COLUMNS at the latest snapshot, kept in the memo for the runs that follow.
        `head`: the catalog's latest snapshot as the caller just read it, before this read of the lake."""
        head = head or catalog_head(self.data_dir)
        if head is None:
            raise no_lake_error(self.data_dir)
        with self.house.reading() as (cur, snapshot):
            try:
                table = cur.execute(f"SELECT {', '.join(SKIP_COLUMNS)} FROM papers").to_arrow_table()
            except duckdb.CatalogException:  # a lake with no paper committed yet
                table = PAPERS.schema.empty_table().select(list(SKIP_COLUMNS))
        if snapshot == head[0]:  # else a commit came between the two reads: the next run reads again
            self.memo.write(head, table)
        return table

    def read_nodes(self, paper_id: str) -> list[Node]:
        table = self._rows("SELECT * FROM nodes WHERE paper_id = ? ORDER BY kind, chunk_size, position", [paper_id])
        return table_to_nodes(table) if table is not None else []

    def read_extractions(self, paper_id: str) -> list[dict]:
        table = self._rows("SELECT * FROM extractions WHERE paper_id = ? ORDER BY parent_id, kind", [paper_id])
        return table.select(EXTRACTIONS.schema.names).to_pylist() if table is not None else []

    def paper_states(self, paper_ids: list[str]) -> dict[str, dict]:
        """`paper_id` -> its status, error and ingested_at (the last attempt), for those the lake holds."""
        table = self._rows("SELECT paper_id, status, error, ingested_at FROM papers WHERE list_contains(?, paper_id)",
                           [sorted(set(paper_ids))])  # fmt: skip
        return {row["paper_id"]: row for row in table.to_pylist()} if table is not None else {}

    def list_papers(self) -> list[dict]:
        table = self._rows("SELECT * FROM papers ORDER BY paper_id", [])
        return table.select(PAPERS.schema.names).to_pylist() if table is not None else []

    # ---- writing ------------------------------------------------------------------------------
    def prepare_in_background(self) -> threading.Thread:
        """Open the lake, or create it and its paper tables, on a thread: a run that will commit then finds
        it ready while its first papers parse (opening: the extensions' signature checks and the attach,
        0.1-0.2 s; creating: 0.2-0.4 s). A failure here only logs: the first commit tries again and
        reports what fails."""

        def prepare() -> None:
            try:
                self.house.prepare(PAPER_TABLES)
            except Exception as exc:  # noqa: BLE001 - the first commit tries again and fails the paper truthfully
                log.debug("opening the lake failed (the first commit retries): %s", exc)

        thread = threading.Thread(target=prepare, name="paperlake-open-lake")
        thread.start()
        return thread

    def write_paper(
        self, row: dict, nodes: list[Node], vectors: np.ndarray, model: str, extractions: list[dict] | None = None,
        *, new: bool = False,
    ) -> CommitResult:  # fmt: skip
        """Make the paper exactly this, in one commit: its row, nodes, vectors and extraction rows
        (default: the current ones). Extraction rows whose parent is not among `nodes` are dropped.
        Only differences are written; an unchanged paper writes nothing. Call under `paper_lock`.

        `new`: the caller read, under that lock, that the lake has no `papers` row of this paper, so it
        has no row of it in any table (they commit together): the rows are appended without reading
        the four tables first (each read costs catalog round trips: about half of a new paper's commit)."""
        paper_id = row["paper_id"]
        parent_ids = {node.node_id for node in nodes if node.kind == "parent"}
        if extractions is None:  # a new paper has none stored
            extractions = [] if new else self.read_extractions(paper_id)
        kept = [r for r in extractions if r["parent_id"] in parent_ids]
        scope = {"paper_id": paper_id}
        tables = [
            (NODES, nodes_to_table(nodes)),
            (EMBEDDINGS, embeddings_table(nodes, model, vectors)),
            (EXTRACTIONS, EXTRACTIONS.rows(kept)),
            (PAPERS, PAPERS.rows([row])),  # last: in one transaction, order is only for the seam
        ]
        changes = [Append(spec, table) if new else Replace(spec, scope, table) for spec, table in tables]
        return self.house.commit(changes, message=f"paper {paper_id}")

    def write_failure(self, row: dict) -> bool:
        """Record a failed paper, unless the lake holds a good copy of it (kept whole, not clobbered).

        Returns whether the row was written. Call under `paper_lock`."""
        previous = self.read_paper(row["paper_id"])
        if previous is not None and previous["status"] == "ok":
            return False
        self.house.commit([Replace(PAPERS, {"paper_id": row["paper_id"]}, PAPERS.rows([row]))], message=f"failed {row['paper_id']}")
        return True

    # ---- the lake as a shared cache -----------------------------------------------------------
    # Lookups are scoped to papers: the files are sorted by paper_id, so DuckDB reads only those papers'
    # files, where a lake-wide search by text digest would scan every node of the lake (seconds at 10,000
    # papers). What they serve is a paper's own passages seen before: a re-ingest, re-chunk or re-extract,
    # on this machine or another one sharing the lake.
    def find_vectors(self, model: str, digests: list[str], paper_ids: list[str], document_prefix: str = "") -> dict[str, bytes]:
        """float32 bytes of stored vectors of `model` for texts of these papers with these sha256 digests,
        embedded with `document_prefix` (as the paper's `ingest_config` records it: absent means none)."""
        if not digests or not paper_ids:
            return {}
        table = self._rows(
            "SELECT DISTINCT ON (n.text_sha256) n.text_sha256, e.embedding FROM embeddings e "
            "JOIN nodes n ON n.paper_id = e.paper_id AND n.node_id = e.node_id JOIN papers p ON p.paper_id = n.paper_id "
            "WHERE list_contains(?, e.paper_id) AND list_contains(?, n.paper_id) AND e.model = ? "
            "AND list_contains(?, n.text_sha256) "
            "AND coalesce(json_extract_string(p.ingest_config, '$.embed_document_prefix'), '') = ?",
            [sorted(set(paper_ids)), sorted(set(paper_ids)), model, sorted(set(digests)), document_prefix],
        )
        if table is None:
            return {}
        return {
            sha: np.asarray(vector, dtype=np.float32).tobytes()
            for sha, vector in zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True)
        }

    def find_extractions(self, model: str, prompt_version: str, digests: list[str], paper_ids: list[str]) -> dict[str, dict[str, dict]]:
        """Stored good extraction rows (by kind) of these papers' parents whose text has these sha256 digests."""
        if not digests or not paper_ids:
            return {}
        papers = sorted(set(paper_ids))
        table = self._rows(
            "SELECT p.text_sha256 AS sha, x.* FROM extractions x JOIN nodes p ON p.paper_id = x.paper_id AND p.node_id = x.parent_id "
            "WHERE list_contains(?, x.paper_id) AND list_contains(?, p.paper_id) AND x.status = 'ok' AND x.model = ? "
            "AND x.prompt_version = ? AND list_contains(?, p.text_sha256)",
            [papers, papers, model, prompt_version, sorted(set(digests))],
        )
        found: dict[str, dict[str, dict]] = {}
        for record in table.to_pylist() if table is not None else []:
            found.setdefault(record.pop("sha"), {})[record["kind"]] = record
        return {sha: kinds for sha, kinds in found.items() if {"summary", "questions"} <= set(kinds)}
