"""Parent chunks, and smaller child chunks that point at their parent, with page spans.

As in the LlamaIndex recursive-retriever notebook: the pages are joined into one text,
`SentenceSplitter(chunk_size=1024)` cuts parents, and each parent is cut again at 128,
256 and 512 tokens (overlap 20) into children. Unlike the notebook, every node keeps the
pages it came from and an id that a re-run reproduces exactly.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from paperlake.models import Node, ParsedPdf, make_node_id, sha256_text
from tasks.parse import PARSER_PRELOAD, extract_pages

PAGE_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class ChunkingOptions:
    parent_chunk_size: int = 1024
    child_chunk_sizes: tuple[int, ...] = (128, 256, 512)
    child_chunk_overlap: int = 20


@lru_cache(maxsize=16)
def _splitter(chunk_size: int, chunk_overlap: int | None):
    from llama_index.core.node_parser import SentenceSplitter

    if chunk_overlap is None:  # parents: the splitter's own default overlap, as in the notebook
        return SentenceSplitter(chunk_size=chunk_size)
    return SentenceSplitter(chunk_size=chunk_size, chunk_overlap=min(chunk_overlap, chunk_size // 2))


def join_pages(pages: list[str]) -> tuple[str, list[int]]:
    """One text for the whole paper, and the offset where each page starts in it."""
    starts, offset = [], 0
    for page in pages:
        starts.append(offset)
        offset += len(page) + len(PAGE_SEPARATOR)
    return PAGE_SEPARATOR.join(pages), starts


def locate_chunks(text: str, chunks: list[str]) -> list[tuple[int, int]]:
    """Character span of each chunk in `text`. Chunks come in order and may overlap."""
    spans, cursor = [], 0
    for chunk in chunks:
        start = text.find(chunk, cursor)
        if start < 0:  # the splitter may drop a stray character; anchor on the chunk's head
            start = text.find(chunk[:40], cursor)
        if start < 0:
            start = cursor
        spans.append((start, start + len(chunk)))
        cursor = start + 1
    return spans


def _page_of(page_starts: list[int], offset: int) -> int:
    return bisect.bisect_right(page_starts, offset)  # 1-based page number


def _node(paper_id: str, kind: str, size: int, position: int, text: str, pages: tuple[int, int], parent_id: str | None) -> Node:
    digest = sha256_text(text)
    return Node(
        node_id=make_node_id(paper_id, kind, size, position, digest),
        paper_id=paper_id,
        kind=kind,  # type: ignore[arg-type]
        parent_id=parent_id,
        chunk_size=size,
        position=position,
        text=text,
        text_sha256=digest,
        page_start=pages[0],
        page_end=pages[1],
    )


def build_nodes(paper_id: str, pages: list[str], options: ChunkingOptions) -> list[Node]:
    """Parents in reading order, each followed by its children (by size, then position)."""
    text, page_starts = join_pages(pages)
    parent_texts = [t for t in _splitter(options.parent_chunk_size, None).split_text(text) if t.strip()]
    child_counts = dict.fromkeys(options.child_chunk_sizes, 0)
    nodes: list[Node] = []
    for position, (ptext, (pstart, pend)) in enumerate(zip(parent_texts, locate_chunks(text, parent_texts), strict=True)):
        page_span = (_page_of(page_starts, pstart), _page_of(page_starts, max(pstart, pend - 1)))
        parent = _node(paper_id, "parent", options.parent_chunk_size, position, ptext, page_span, None)
        nodes.append(parent)
        for size in options.child_chunk_sizes:
            child_texts = [t for t in _splitter(size, options.child_chunk_overlap).split_text(ptext) if t.strip()]
            for ctext, (cstart, cend) in zip(child_texts, locate_chunks(ptext, child_texts), strict=True):
                span = (_page_of(page_starts, pstart + cstart), _page_of(page_starts, pstart + max(cstart, cend - 1)))
                nodes.append(_node(paper_id, "child", size, child_counts[size], ctext, span, parent.node_id))
                child_counts[size] += 1
    return nodes


def parse_and_chunk(path: Path, paper_id: str, engine: str, max_pages: int, options: ChunkingOptions) -> tuple[ParsedPdf, list[Node]]:
    """Runs in the isolated parser process: both the parsing and the splitting are CPU-bound,
    so doing them there lets two papers use two cores."""
    parsed = extract_pages(path, paper_id=paper_id, engine=engine, max_pages=max_pages)
    return parsed, build_nodes(paper_id, parsed.pages, options)


# Modules the parser processes import once, in the forkserver, instead of per paper.
INGEST_PRELOAD = (*PARSER_PRELOAD, "tasks.chunk", "tasks.parser_warmup")
