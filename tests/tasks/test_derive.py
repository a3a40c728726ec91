from __future__ import annotations

from datetime import datetime, timezone

from paperlake.models import Node, make_node_id, sha256_text
from tasks.derive import derived_nodes, extraction_rows, merge_derived_nodes, merge_extraction_rows
from tasks.extract import ExtractionRecord

QUESTIONS = [f"What is point {i}?" for i in range(5)]


def _parent(position: int) -> Node:
    text = f"Parent passage {position}."
    digest = sha256_text(text)
    return Node(make_node_id("2307.09288", "parent", 1024, position, digest), "2307.09288", "parent", None, 1024,
                position, text, digest, position + 1, position + 2)  # fmt: skip


def _record(parent: Node, status: str, model: str = "gpt-4o-mini") -> ExtractionRecord:
    ok = status == "ok"
    return ExtractionRecord(parent.node_id, parent.paper_id, model, "p-1", "A summary." if ok else "",
                            QUESTIONS if ok else [], 10, 5, 1.5, status, "" if ok else "HTTP 500",
                            datetime.now(timezone.utc), False)  # fmt: skip


def test_derived_nodes_point_at_their_parent_with_stable_ids():
    parent = _parent(3)
    nodes = derived_nodes(parent, _record(parent, "ok"))
    assert [n.kind for n in nodes] == ["summary"] + ["question"] * 5
    assert [n.position for n in nodes] == [3, 300, 301, 302, 303, 304]
    assert all(n.parent_id == parent.node_id and (n.page_start, n.page_end) == (4, 5) for n in nodes)
    assert nodes == derived_nodes(parent, _record(parent, "ok"))


def test_a_failed_parent_keeps_neither_old_nodes_nor_old_rows():
    kept, failed = _parent(0), _parent(1)
    current = [kept, failed, *derived_nodes(kept, _record(kept, "ok", "model-a")), *derived_nodes(failed, _record(failed, "ok", "model-a"))]
    rows = [*extraction_rows(_record(kept, "ok", "model-a")), *extraction_rows(_record(failed, "ok", "model-a"))]
    records = {failed.node_id: _record(failed, "failed", "model-b")}

    merged = merge_derived_nodes(current, records)
    assert [n for n in merged if n.parent_id == failed.node_id] == []
    assert len([n for n in merged if n.parent_id == kept.node_id]) == 6
    merged_rows = merge_extraction_rows(rows, records.values())
    about_failed = {(r["kind"], r["model"], r["status"]) for r in merged_rows if r["parent_id"] == failed.node_id}
    assert about_failed == {("summary", "model-b", "failed"), ("questions", "model-b", "failed")}


def test_tokens_of_the_one_call_are_counted_once():
    parent = _parent(0)
    summary, questions = extraction_rows(_record(parent, "ok"))
    assert (summary["kind"], summary["input_tokens"], summary["output_tokens"]) == ("summary", 10, 5)
    assert (questions["kind"], questions["input_tokens"], questions["text"]) == ("questions", 0, "\n".join(QUESTIONS))
