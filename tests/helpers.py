"""Helpers shared by test modules (one module, so no test file imports another)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from paperlake.models import Node, make_node_id, sha256_text
from storage.lakehouse import connect_read_only
from tests.pdfs import make_pdf, sample_pages

REPO = Path(__file__).resolve().parents[1]


def node(paper_id: str, kind: str, position: int, text: str, parent_id: str | None = None) -> Node:
    """A node as chunking or extraction would make it (parents 1024, children 128)."""
    digest = sha256_text(text)
    size = {"parent": 1024, "child": 128}.get(kind)
    return Node(make_node_id(paper_id, kind, size, position, digest), paper_id, kind, parent_id, size, position, text, digest, 1, 1)


def paper_row(paper_id: str, status: str = "ok", error: str | None = None, config: str = "{}") -> dict:
    return {
        "paper_id": paper_id, "source": "arxiv", "title": "T", "authors": ["A"], "abstract": "", "categories": ["cs.CL"],
        "published": datetime(2023, 7, 18, tzinfo=timezone.utc), "pdf_sha256": "ab", "n_pages": 1, "n_chars": 10,
        "status": status, "error": error, "ingested_at": datetime(2026, 1, 1, tzinfo=timezone.utc), "version": "v1",
        "ingest_config": config,
    }  # fmt: skip


# A small lake for the answer tests: paper id -> (title, [(parent text, first page, last page)]).
ANSWER_PAPERS = {
    "2301.00001": ("Lenses and Light", [
        ("Refraction bends light as it crosses from air into glass. A convex lens focuses parallel rays onto the focal point "
         "of the lens. The focal length of a convex lens is the distance from the lens to its focal point.", 2, 3),
        ("Chromatic aberration splits white light into colours at the image plane. Achromatic doublets correct "
         "chromatic aberration by pairing two kinds of glass.", 4, 4),
    ]),
    "2301.00002": ("Growing Tomatoes", [
        ("Tomato seedlings want warm soil and full sun in spring. Water the tomato roots deeply twice a week, "
         "because wet leaves invite blight.", 1, 1),
    ]),
}  # fmt: skip


def write_answer_lake(data_dir: Path) -> None:
    """ANSWER_PAPERS as a lake (each parent with one child of the same text), embedded by wordllama: no Prefect."""
    from paperlake.embedders import WordLlamaEmbedder
    from storage.lake import Lake

    lake, embedder = Lake(data_dir), WordLlamaEmbedder()
    for paper_id, (title, passages) in ANSWER_PAPERS.items():
        nodes = []
        for position, (text, first, last) in enumerate(passages):
            parent = replace(node(paper_id, "parent", position, text), page_start=first, page_end=last)
            child = replace(node(paper_id, "child", position, text, parent.node_id), page_start=first, page_end=last)
            nodes += [parent, child]
        lake.write_paper({**paper_row(paper_id), "title": title}, nodes, embedder.embed([n.text for n in nodes]), "wordllama")


def local_pdfs(folder: Path, count: int, pages: int = 3) -> list[str]:
    """`count` small PDFs of distinct text (so distinct local paper ids), as path strings."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        texts = sample_pages(pages + i)
        texts[0] = f"Paper number {i}\n{texts[0]}"
        path = folder / f"paper{i}.pdf"
        path.write_bytes(make_pdf(texts, title=f"Paper {i}"))
        paths.append(str(path))
    return paths


# "A paper in the lake is always whole", as queries counting what breaks it (0 everywhere = whole).
LAKE_CHECKS = {
    "paper rows repeated": "SELECT count(*) - count(DISTINCT paper_id) FROM papers",
    "node ids repeated": "SELECT count(*) - count(DISTINCT node_id) FROM nodes",
    "ok papers without nodes": "SELECT count(*) FROM papers p WHERE status = 'ok' AND paper_id NOT IN (SELECT paper_id FROM nodes)",
    "nodes without an ok paper row": "SELECT count(*) FROM nodes WHERE paper_id NOT IN (SELECT paper_id FROM papers WHERE status = 'ok')",
    "nodes without exactly one vector": """
        SELECT count(*) FROM nodes n LEFT JOIN (SELECT node_id, count(*) AS k FROM embeddings GROUP BY 1) e USING (node_id)
        WHERE e.k IS DISTINCT FROM 1""",
    "vectors without their node": "SELECT count(*) FROM embeddings e ANTI JOIN nodes n ON n.node_id = e.node_id AND n.paper_id = e.paper_id",
    "children, summaries, questions without their parent in the same paper": """
        SELECT count(*) FROM nodes c WHERE c.kind <> 'parent' AND NOT EXISTS
            (SELECT 1 FROM nodes p WHERE p.node_id = c.parent_id AND p.kind = 'parent' AND p.paper_id = c.paper_id)""",
    "extraction rows without their parent": """
        SELECT count(*) FROM extractions x ANTI JOIN nodes p ON p.node_id = x.parent_id AND p.kind = 'parent' AND p.paper_id = x.paper_id""",
    "papers whose chunk sizes differ from their ingest_config": """
        WITH want AS (SELECT paper_id, CAST(json_extract(ingest_config, '$.parent_chunk_size') AS INTEGER) AS parent,
                             list_sort(CAST(json_extract(ingest_config, '$.child_chunk_sizes') AS INTEGER[])) AS children
                      FROM papers WHERE status = 'ok' AND json_extract(ingest_config, '$.parent_chunk_size') IS NOT NULL),
             got AS (SELECT paper_id, list_sort(list(DISTINCT chunk_size) FILTER (WHERE kind = 'parent')) AS parents,
                            list_sort(list(DISTINCT chunk_size) FILTER (WHERE kind = 'child')) AS children
                     FROM nodes GROUP BY 1)
        SELECT count(*) FROM want JOIN got USING (paper_id) WHERE got.parents <> [want.parent] OR got.children <> want.children""",
}


def lake_problems(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """What breaks "a paper is always whole" in what `conn` sees; run it inside one transaction for one snapshot.

    A lake whose first commit has not happened yet has no tables: nothing to break."""
    tables = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'lake' AND table_name IN "
                          "('papers', 'nodes', 'embeddings', 'extractions')").fetchone()[0]  # fmt: skip
    if tables < 4:
        return {"tables missing": 4 - tables} if tables else {}
    found = {name: conn.execute(sql).fetchone()[0] for name, sql in LAKE_CHECKS.items()}
    return {name: count for name, count in found.items() if count}


def snapshot_problems(data_dir: Path) -> tuple[int, dict[str, int]]:
    """(snapshot id, problems) of the lake's latest snapshot, read in one read-only transaction."""
    with connect_read_only(data_dir) as conn:
        conn.execute("BEGIN")
        snapshot = conn.execute("SELECT id FROM ducklake_current_snapshot('lake')").fetchone()[0]
        problems = lake_problems(conn)
        conn.execute("ROLLBACK")
    return snapshot, problems


def ingest_child(spec: dict) -> subprocess.Popen[str]:
    """`tests/ingest_child.py` in a process of its own (see there for `spec`); stdin, stdout and stderr piped."""
    return subprocess.Popen([sys.executable, "-m", "tests.ingest_child", json.dumps(spec)], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def child_reports(output: str) -> dict[str, dict]:
    """The per-paper JSON lines an ingest child printed, by paper id."""
    reports = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return {report["paper_id"]: report for report in reports}


def lake_footprint(data_dir: Path) -> tuple[int, list[str]]:
    """(snapshots the lake holds, data files on disk under data/lake/): what a run that changes nothing leaves alone."""
    with connect_read_only(data_dir) as conn:
        snapshots = conn.execute("SELECT count(*) FROM ducklake_snapshots('lake')").fetchone()[0]
    files = sorted(str(p.relative_to(data_dir)) for p in (Path(data_dir) / "lake").rglob("*") if p.is_file())
    return snapshots, files
