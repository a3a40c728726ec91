"""Plain records passed between the pipeline's steps. No Prefect, no llama-index."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

NodeKind = Literal["parent", "child", "summary", "question"]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_node_id(paper_id: str, kind: str, chunk_size: int | None, position: int, text_sha256: str) -> str:
    """Deterministic and readable: the same text at the same place always gets the same id.

    `position` counts nodes of one kind and size within a paper; derived nodes use their
    parent's position (summary) or 100 x parent position + question number (question),
    so one parent's failed extraction never shifts another's ids.
    """
    return f"{paper_id}:{kind}:{chunk_size or 0}:{position}:{text_sha256[:12]}"


@dataclass(frozen=True)
class PaperSource:
    """One thing the user asked for: an arXiv paper or a local PDF file."""

    paper_id: str  # arXiv id without version (`2307.09288`, `hep-th/9901001`) or `local-<12 hex>`
    source: Literal["arxiv", "local"]
    requested_version: str | None = None  # `v2` when the user pinned one
    path: Path | None = None  # local PDFs only


@dataclass(frozen=True)
class ArxivMetadata:
    paper_id: str
    version: str  # latest version, e.g. `v3`
    title: str
    authors: list[str]
    abstract: str
    categories: list[str]
    published: datetime | None
    updated: datetime | None = None


@dataclass
class ParsedPdf:
    """Normalised text of each page (index 0 is page 1) and what the PDF says about itself."""

    pages: list[str]
    title: str | None = None
    author: str | None = None

    @property
    def n_pages(self) -> int:
        return len(self.pages)

    @property
    def n_chars(self) -> int:
        return sum(len(p) for p in self.pages)


@dataclass(frozen=True)
class Node:
    node_id: str
    paper_id: str
    kind: NodeKind
    parent_id: str | None
    chunk_size: int | None
    position: int
    text: str
    text_sha256: str
    page_start: int | None
    page_end: int | None


@dataclass
class PaperReport:
    """What happened to one paper in one run: a row of the CLI summary and the Prefect artifact."""

    paper_id: str
    status: Literal["ok", "failed", "skipped"]
    n_pages: int = 0
    n_nodes: int = 0
    seconds: float = 0.0
    reason: str = ""
    title: str = ""
    embed_calls: int = 0
    extra: dict[str, object] = field(default_factory=dict)


def summary_and_question_nodes(parent: Node, summary: str, questions: list[str]) -> list[Node]:
    """A parent's summary and each of its questions as nodes of their own, ids stable across runs."""
    texts = [("summary", parent.position, summary)]
    texts += [("question", parent.position * 100 + i, q) for i, q in enumerate(questions)]
    nodes = []
    for kind, position, text in texts:
        digest = sha256_text(text)
        node_id = make_node_id(parent.paper_id, kind, None, position, digest)
        nodes.append(Node(node_id, parent.paper_id, kind, parent.node_id, None, position, text, digest,  # type: ignore[arg-type]
                          parent.page_start, parent.page_end))  # fmt: skip
    return nodes
