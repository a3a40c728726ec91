from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow.parquet as pq

from paperlake.models import Node, make_node_id, sha256_text
from storage.lake import Lake, write_parquet_atomic


def node(paper_id: str, kind: str, position: int, text: str, parent_id: str | None = None) -> Node:
    digest = sha256_text(text)
    size = {"parent": 1024, "child": 128}.get(kind)
    return Node(make_node_id(paper_id, kind, size, position, digest), paper_id, kind, parent_id, size, position, text, digest, 1, 1)


def paper_row(paper_id: str, status: str = "ok", error: str | None = None) -> dict:
    return {
        "paper_id": paper_id, "source": "arxiv", "title": "T", "authors": ["A"], "abstract": "", "categories": ["cs.CL"],
        "published": datetime(2023, 7, 18, tzinfo=timezone.utc), "pdf_sha256": "ab", "n_pages": 1, "n_chars": 10,
        "status": status, "error": error, "ingested_at": datetime.now(timezone.utc), "version": "v1", "ingest_config": "{}",
    }  # fmt: skip


def test_write_paper_round_trips_nodes_embeddings_and_row(tmp_path):
    lake = Lake(tmp_path)
    parent = node("hep-th/9901001", "parent", 0, "a parent")
    child = node("hep-th/9901001", "child", 0, "a child", parent.node_id)
    vectors = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32)
    lake.write_paper(paper_row("hep-th/9901001"), [parent, child], vectors, "wordllama")
    assert lake.file_for("nodes", "hep-th/9901001").name == "hep-th_9901001.parquet"
    assert lake.read_nodes("hep-th/9901001") == [parent, child]
    assert lake.read_paper("hep-th/9901001")["status"] == "ok"
    table = pq.read_table(lake.file_for("embeddings", "hep-th/9901001"))
    assert table.schema.field("embedding").type.list_size == 3
    assert table.column("embedding").to_pylist() == [[1, 0, 0], [0, 1, 0]]
    assert set(table.column("model").to_pylist()) == {"wordllama"}


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    import pyarrow as pa

    path = tmp_path / "nodes" / "x.parquet"
    write_parquet_atomic(pa.table({"a": [1]}), path)
    write_parquet_atomic(pa.table({"a": [2]}), path)
    assert [p.name for p in path.parent.iterdir()] == ["x.parquet"]
    assert pq.read_table(path).column("a").to_pylist() == [2]


def test_failure_never_clobbers_a_good_copy(tmp_path):
    lake = Lake(tmp_path)
    lake.write_paper(paper_row("2307.09288"), [node("2307.09288", "parent", 0, "p")], np.ones((1, 2), np.float32), "m")
    assert lake.write_failure(paper_row("2307.09288", "failed", "not_pdf: html")) is False
    assert lake.read_paper("2307.09288")["status"] == "ok"
    assert lake.write_failure(paper_row("2401.00001", "failed", "no_text")) is True
    assert lake.read_paper("2401.00001")["error"] == "no_text"
    assert [row["paper_id"] for row in lake.list_papers()] == ["2307.09288", "2401.00001"]


def test_derived_nodes_follow_their_parent(tmp_path):
    lake = Lake(tmp_path)
    kept_parent = node("2307.09288", "parent", 0, "kept")
    gone_parent = node("2307.09288", "parent", 1, "gone")
    summary_kept = node("2307.09288", "summary", 0, "s1", kept_parent.node_id)
    summary_gone = node("2307.09288", "summary", 1, "s2", gone_parent.node_id)
    nodes = [kept_parent, gone_parent, summary_kept, summary_gone]
    lake.write_paper(paper_row("2307.09288"), nodes, np.ones((4, 2), np.float32), "m")
    assert lake.derived_nodes("2307.09288", {kept_parent.node_id}) == [summary_kept]


def test_sweep_removes_only_this_papers_leftovers(tmp_path):
    lake = Lake(tmp_path)
    mine = [tmp_path / "nodes" / ".hep-th_9901001.parquet.abc.tmp", tmp_path / "pdfs" / ".hep-th_9901001v2.pdf.x1.part"]
    theirs = [tmp_path / "nodes" / ".2307.09288.parquet.abc.tmp", tmp_path / "nodes" / "hep-th_9901001.parquet"]
    for path in mine + theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert lake.sweep_partial_files("hep-th/9901001") == 2
    assert [p.exists() for p in mine + theirs] == [False, False, True, True]
