"""Helpers shared by test modules (one module, so no test file imports another)."""

from __future__ import annotations

from datetime import datetime, timezone

from paperlake.models import Node, make_node_id, sha256_text


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
