"""Parent chunks, and smaller child chunks that point at their parent, with page spans.

As in the LlamaIndex recursive-retriever notebook: the pages are joined into one text,
`SentenceSplitter(chunk_size=1024)` cuts parents, and each parent is cut again at 128,
256 and 512 tokens (overlap 20) into children. Unlike the notebook, every node keeps the
pages it came from and an id that a re-run reproduces exactly.

Page spans come from the splitter's own decisions, not from searching the text for each chunk: a
search puts a chunk of repeated text (a table of identical rows, a prompt shown twice) on an earlier
copy, and so on the wrong page. `split_with_spans` runs the splitter's merge on numbered stand-ins
that carry the real token counts, which yields the same chunks together with where each one lies.
"""

from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from paperlake.models import Node, ParsedPdf, make_node_id, sha256_text
from tasks.parse import PARSER_PRELOAD, extract_pages

PAGE_SEPARATOR = "\n\n"
Span = tuple[int, int]  # [start, end) character offsets
log = logging.getLogger(__name__)
_MARK = re.compile(r"\x00(\d+)\x00")  # a numbered stand-in for one split, see split_with_spans


@dataclass(frozen=True)
class ChunkingOptions:
    parent_chunk_size: int = 1024
    child_chunk_sizes: tuple[int, ...] = (128, 256, 512)
    child_chunk_overlap: int = 20


# What the splitters learnt of each text: its token count, and its pieces by the split functions.
# Values depend on the text alone (every splitter here has the default tokenizer and split functions),
# so sharing them never changes a chunk; `build_nodes` forgets them when its paper is done.
_TOKENS: dict[str, int] = {}
_PIECES: dict[str, tuple[list[str], bool]] = {}


@lru_cache(maxsize=1)
def _memo_splitter_class() -> type:
    from llama_index.core.node_parser import SentenceSplitter

    class MemoSplitter(SentenceSplitter):
        """A SentenceSplitter that counts and splits each text once. A parent is cut at 128, 256 and 512
        tokens, each time splitting it into the same sentences and counting the same pieces: remembered,
        chunking the corpus takes 242 ms instead of 509 (the same chunks, tested against SentenceSplitter)."""

        def _token_size(self, text: str) -> int:
            size = _TOKENS.get(text)
            if size is None:
                size = _TOKENS[text] = super()._token_size(text)
            return size

        def _get_splits_by_fns(self, text: str) -> tuple[list[str], bool]:
            found = _PIECES.get(text)
            if found is None:
                found = _PIECES[text] = super()._get_splits_by_fns(text)
            return list(found[0]), found[1]

    return MemoSplitter


@lru_cache(maxsize=16)
def _splitter(chunk_size: int, chunk_overlap: int | None):
    splitter_class = _memo_splitter_class()
    if chunk_overlap is None:  # parents: the splitter's own default overlap, as in the notebook
        return splitter_class(chunk_size=chunk_size)
    return splitter_class(chunk_size=chunk_size, chunk_overlap=min(chunk_overlap, chunk_size // 2))


def join_pages(pages: list[str]) -> tuple[str, list[int]]:
    """One text for the whole paper, and the offset where each page starts in it."""
    starts, offset = [], 0
    for page in pages:
        starts.append(offset)
        offset += len(page) + len(PAGE_SEPARATOR)
    return PAGE_SEPARATOR.join(pages), starts


def split_with_spans(text: str, chunk_size: int, chunk_overlap: int | None, *, where: str) -> tuple[list[str], list[Span]]:
    """The splitter's non-blank chunks of `text` (as `split_text` gives them) and the span of each in it.

    The splitter cuts the text into pieces that tile it exactly, then merges runs of them into chunks
    deciding by token counts alone. Merging numbered stand-ins with the same counts tells which run of
    pieces each chunk is. `_split`, `_merge` and `_Split` are llama-index-core's private names (pinned in
    requirements.lock); the chunk tests compare the result with `split_text` on the corpus. Should a
    release stop tiling the text, chunks are searched for instead (`locate_chunks`), with a warning.
    """
    from llama_index.core.node_parser.text.sentence import _Split

    splitter = _splitter(chunk_size, chunk_overlap)
    pieces = splitter._split(text, chunk_size)
    bounds = [0]
    for piece in pieces:
        bounds.append(bounds[-1] + len(piece.text))
    if "".join(piece.text for piece in pieces) != text:
        log.warning("%s: the text splitter changed the text; locating its chunks by search", where)
        chunks = [chunk for chunk in splitter.split_text(text) if chunk.strip()]
        return chunks, locate_chunks(text, chunks, where=where)
    stand_ins = [_Split(f"\x00{i}\x00", is_sentence=p.is_sentence, token_size=p.token_size) for i, p in enumerate(pieces)]
    chunks, spans = [], []
    for merged in splitter._merge(stand_ins, chunk_size):
        numbers = [int(number) for number in _MARK.findall(merged)]
        start, end = bounds[numbers[0]], bounds[numbers[-1] + 1]
        raw = text[start:end]
        if raw.strip():  # the splitter strips each chunk and drops blank ones
            lead = len(raw) - len(raw.lstrip())
            chunks.append(raw.strip())
            spans.append((start + lead, start + lead + len(chunks[-1])))
    return chunks, spans


def locate_chunks(text: str, chunks: list[str], *, where: str = "text") -> list[Span]:
    """Character span of each chunk in `text`, by search (only when the splitter's own spans are not to
    be had, see split_with_spans). Chunks come in order and may overlap.

    Each chunk starts after the previous one's start and ends at or after its end. A chunk is found as
    it is, or else with its whitespace changed or dropped; one found in neither way is logged and gets
    the widest span it can have: from the previous found chunk's start to the next found chunk's end.
    """
    found: list[Span | None] = []
    start_floor, end_floor = 0, 0
    for chunk in chunks:
        span = _find_chunk(text, chunk, start_floor, end_floor)
        found.append(span)
        if span is not None:
            start_floor, end_floor = span[0] + 1, span[1]
    return _widen_unfound(found, len(text), where)


def _find_chunk(text: str, chunk: str, start_floor: int, end_floor: int) -> Span | None:
    start = text.find(chunk, max(start_floor, end_floor - len(chunk)))
    if start >= 0:
        return start, start + len(chunk)
    visible = "".join(chunk.split())  # whitespace anywhere may have been changed, collapsed or dropped
    match = re.compile(r"\s*+".join(map(re.escape, visible))).search(text, start_floor) if visible else None
    return match.span() if match else None


def _widen_unfound(found: list[Span | None], text_length: int, where: str) -> list[Span]:
    spans = []
    for index, span in enumerate(found):
        if span is None:
            before = [s[0] for s in found[:index] if s is not None]
            after = [s[1] for s in found[index + 1 :] if s is not None]
            span = (before[-1] if before else 0, after[0] if after else text_length)
            log.warning(
                "%s: chunk %d of %d not found in the text; its span is widened to characters %d-%d",
                where, index, len(found), *span,
            )
        spans.append(span)
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
    try:
        return _build_nodes(paper_id, pages, options)
    finally:  # the splitters' memory of this paper's texts: of no use to the next paper
        _TOKENS.clear()
        _PIECES.clear()


def _build_nodes(paper_id: str, pages: list[str], options: ChunkingOptions) -> list[Node]:
    text, page_starts = join_pages(pages)

    def page_span(start: int, end: int) -> tuple[int, int]:
        return _page_of(page_starts, start), _page_of(page_starts, max(start, end - 1))

    size = options.parent_chunk_size
    parents = split_with_spans(text, size, None, where=f"paper {paper_id}: parents (size {size})")
    child_counts = dict.fromkeys(options.child_chunk_sizes, 0)
    nodes: list[Node] = []
    for position, (ptext, (pstart, pend)) in enumerate(zip(*parents, strict=True)):
        parent = _node(paper_id, "parent", size, position, ptext, page_span(pstart, pend), None)
        nodes.append(parent)
        for child_size in options.child_chunk_sizes:
            where = f"paper {paper_id}: children (size {child_size}) of parent {position}"
            children = split_with_spans(ptext, child_size, options.child_chunk_overlap, where=where)
            for ctext, (cstart, cend) in zip(*children, strict=True):
                span = page_span(pstart + cstart, pstart + cend)
                nodes.append(_node(paper_id, "child", child_size, child_counts[child_size], ctext, span, parent.node_id))
                child_counts[child_size] += 1
    return nodes


def parse_and_chunk(path: Path, paper_id: str, engine: str, max_pages: int, options: ChunkingOptions) -> tuple[ParsedPdf, list[Node]]:
    """Runs in the isolated parser process: both the parsing and the splitting are CPU-bound,
    so doing them there lets two papers use two cores."""
    parsed = extract_pages(path, paper_id=paper_id, engine=engine, max_pages=max_pages)
    return parsed, build_nodes(paper_id, parsed.pages, options)


# Modules the parser processes import once, in the forkserver, instead of per paper.
INGEST_PRELOAD = (*PARSER_PRELOAD, "tasks.chunk", "tasks.parser_warmup")
