"""Papers in the DuckLake lake: one commit per paper, nothing rewritten without a change."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from storage.lake import Lake
from tests.helpers import node, paper_row

PID = "hep-th/9901001"


def _paper(lake: Lake, texts: list[str], row: dict | None = None, extractions: list[dict] | None = None):
    parents = [node(PID, "parent", i, t) for i, t in enumerate(texts)]
    children = [node(PID, "child", i, t[:3], p.node_id) for i, (t, p) in enumerate(zip(texts, parents, strict=True))]
    nodes = parents + children
    vectors = np.eye(len(nodes), 8, dtype=np.float32)
    return lake.write_paper(row or paper_row(PID), nodes, vectors, "wordllama", extractions), nodes


def _files(lake: Lake) -> list[str]:
    return sorted(str(p) for p in (lake.data_dir / "lake").rglob("*") if p.is_file())


def test_a_paper_round_trips_and_an_unchanged_rewrite_writes_nothing(tmp_path):
    lake = Lake(tmp_path)
    assert lake.read_paper(PID) is None and lake.list_papers() == [] and not lake.house.exists()
    first, nodes = _paper(lake, [f"parent text {i} " * 5 for i in range(12)])
    assert first.snapshot_id is not None and first.inserted == 24 + 24 + 1
    assert sorted(lake.read_nodes(PID), key=str) == sorted(nodes, key=str)
    assert lake.read_paper(PID)["status"] == "ok"
    snapshot, files = lake.house.snapshot_id(), _files(lake)
    assert files  # 24 nodes: past DuckLake's inlining limit, so real Parquet files

    again, _ = _paper(lake, [f"parent text {i} " * 5 for i in range(12)])
    assert (again.snapshot_id, again.inserted, again.deleted) == (None, 0, 0)
    assert lake.house.snapshot_id() == snapshot and _files(lake) == files


def test_only_what_changed_is_rewritten(tmp_path):
    lake = Lake(tmp_path)
    texts = [f"parent text {i} " * 5 for i in range(12)]
    _paper(lake, texts)
    changed, nodes = _paper(lake, [*texts[:-1], "a new last parent " * 5])
    # the last parent, its child and their vectors go; new ones come; the paper row is unchanged
    assert (changed.deleted, changed.inserted) == (4, 4)
    with lake.house.cursor() as cur:
        rows = cur.execute("SELECT count(*), count(DISTINCT node_id) FROM nodes JOIN embeddings USING (node_id)").fetchone()
    assert rows == (len(nodes), len(nodes))


def test_a_fault_after_some_tables_are_staged_leaves_the_old_version_whole(tmp_path):
    lake = Lake(tmp_path)
    _paper(lake, ["old parent " * 20])
    before = (lake.read_nodes(PID), lake.house.snapshot_id())

    def fail_after_embeddings(event: str) -> None:
        if event == "staged:embeddings":
            raise OSError("disk full (injected)")

    lake.hooks.append(fail_after_embeddings)
    with pytest.raises(OSError, match="injected"):
        _paper(lake, ["new parent " * 20])
    lake.hooks.clear()
    assert (lake.read_nodes(PID), lake.house.snapshot_id()) == before


def test_a_failure_never_clobbers_a_good_copy(tmp_path):
    lake = Lake(tmp_path)
    _paper(lake, ["p " * 30])
    assert lake.write_failure(paper_row(PID, "failed", "not_pdf: html")) is False
    assert lake.read_paper(PID)["status"] == "ok"
    assert lake.write_failure(paper_row("2401.00001", "failed", "no_text")) is True
    assert lake.read_paper("2401.00001")["error"] == "no_text"
    assert [row["paper_id"] for row in lake.list_papers()] == ["2401.00001", PID]


def test_extractions_follow_their_parent_and_the_lake_serves_as_a_shared_cache(tmp_path):
    lake = Lake(tmp_path)
    _, nodes = _paper(lake, ["kept parent " * 10, "gone parent " * 10])
    kept, gone = nodes[0], nodes[1]
    rows = [{"parent_id": p.node_id, "paper_id": PID, "kind": kind, "model": "m", "prompt_version": "v1", "text": text,
             "status": "ok", "input_tokens": 3, "output_tokens": 4, "latency_s": 0.5}
            for p in (kept, gone) for kind, text in (("summary", "S"), ("questions", "Q1\nQ2"))]  # fmt: skip
    _paper(lake, ["kept parent " * 10, "gone parent " * 10], extractions=rows)
    assert len(lake.read_extractions(PID)) == 4
    found = lake.find_extractions("m", "v1", [kept.text_sha256, "f" * 64], [PID])
    assert set(found) == {kept.text_sha256} and found[kept.text_sha256]["questions"]["text"] == "Q1\nQ2"
    assert lake.find_extractions("other-model", "v1", [kept.text_sha256], [PID]) == {}
    assert lake.find_extractions("m", "v1", [kept.text_sha256], ["2401.00001"]) == {}  # scoped to papers
    _paper(lake, ["kept parent " * 10])  # the second parent is gone: so are its extraction rows
    assert {r["parent_id"] for r in lake.read_extractions(PID)} == {kept.node_id}
    vectors = lake.find_vectors("wordllama", [kept.text_sha256], [PID])
    assert np.frombuffer(vectors[kept.text_sha256], np.float32).tolist() == np.eye(1, 8)[0].tolist()
    assert lake.find_vectors("wordllama", [kept.text_sha256], [PID], document_prefix="passage: ") == {}  # other prefix, other vectors


def test_the_paper_handle_runs_one_duckdb_thread_per_statement_and_a_big_read_may_ask_for_all(tmp_path):
    """Papers are the unit of parallelism (a run's workers); a search index build wants DuckDB's own threads."""
    lake = Lake(tmp_path)
    _paper(lake, ["some parent text " * 5])

    def threads() -> int:
        return lake.house.query("SELECT current_setting('threads')").column(0)[0].as_py()

    assert threads() == 1
    with lake.house.all_threads():
        assert threads() == duckdb.connect().execute("SELECT current_setting('threads')").fetchone()[0]
    assert threads() == 1
