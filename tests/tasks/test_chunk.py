from __future__ import annotations

import logging
import random
from bisect import bisect_right
from pathlib import Path

import pytest

from tasks.chunk import ChunkingOptions, build_nodes, join_pages, locate_chunks, split_with_spans
from tasks.parse import extract_pages

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")


def _plain_chunks(text: str, size: int, overlap: int | None) -> list[str]:
    """LlamaIndex's own SentenceSplitter, as the notebook builds it: what our splitters must reproduce."""
    from llama_index.core.node_parser import SentenceSplitter

    splitter = SentenceSplitter(chunk_size=size) if overlap is None else SentenceSplitter(chunk_size=size, chunk_overlap=overlap)
    return [c for c in splitter.split_text(text) if c.strip()]


def _page(number: int, sentences: int) -> str:
    return " ".join(f"Page {number} sentence {i} talks about retrieval with parent chunks." for i in range(sentences))


def test_join_pages_records_where_each_page_starts():
    text, starts = join_pages(["abc", "", "de"])
    assert text == "abc\n\n\n\nde"
    assert starts == [0, 5, 7]
    assert text[starts[2] :] == "de"


def test_locate_chunks_handles_overlap_and_repeats():
    text = "one two three. one two three. four"
    chunks = ["one two three.", "three. one two three.", "four"]
    assert locate_chunks(text, chunks) == [(0, 14), (8, 29), (30, 34)]


def _search_first_copy(text: str, chunks: list[str]) -> list[tuple[int, int]]:
    """How spans were found before: the first copy of each chunk after the previous chunk's start."""
    spans, cursor = [], 0
    for chunk in chunks:
        start = text.find(chunk, cursor)
        spans.append((start, start + len(chunk)))
        cursor = start + 1
    return spans


def _table_pages(seed: int | None) -> list[str]:
    """A table of 80 rows over a page break: every row the same when `seed` is None, else random digits.
    A digit is one token whichever it is, so the splitter cuts both tables at the same places."""
    rng = random.Random(seed)
    row = "| 0.0 | 0.2 | 0.4 | 0.6 | 0.8 | 1.0 |"
    rows = [row if seed is None else "".join(str(rng.randrange(10)) if c.isdigit() else c for c in row) for _ in range(80)]
    return ["Table 7: calibration bins.\n" + "\n".join(rows[:40]), "\n".join(rows[40:]) + "\nEnd of the table."]


def test_repeated_rows_keep_their_own_pages():
    """A search puts a chunk of repeated rows on an earlier copy, so on the wrong page. In the table of
    random digits, cut at the same places, each chunk occurs once: a search finds it exactly, and
    its pages are the ones the repeated table must get."""
    options = ChunkingOptions(parent_chunk_size=256, child_chunk_sizes=(64,), child_chunk_overlap=20)
    repeated, unique = build_nodes("p", _table_pages(None), options), build_nodes("p", _table_pages(1), options)
    assert [len(n.text) for n in repeated] == [len(n.text) for n in unique]
    unique_text = join_pages(_table_pages(1))[0]
    assert all(unique_text.count(node.text) == 1 for node in unique)
    truth = _searched_pages(_table_pages(1), unique)
    assert truth == [(n.page_start, n.page_end) for n in unique]
    assert [(n.page_start, n.page_end) for n in repeated] == truth
    assert {(1, 1), (1, 2), (2, 2)} <= set(truth)
    assert _searched_pages(_table_pages(None), repeated) != truth  # where the old search went wrong


def _searched_pages(pages: list[str], nodes: list) -> list[tuple[int, int]]:
    """Pages of each node as the old search placed it: parents in the text, children in their parent."""
    text, page_starts = join_pages(pages)
    parents = [n for n in nodes if n.kind == "parent"]
    offsets = {}
    for parent, (pstart, pend) in zip(parents, _search_first_copy(text, [p.text for p in parents]), strict=True):
        offsets[parent.node_id] = (pstart, pend)
        children = [n for n in nodes if n.parent_id == parent.node_id]
        for child, (start, end) in zip(children, _search_first_copy(parent.text, [c.text for c in children]), strict=True):
            offsets[child.node_id] = (pstart + start, pstart + end)
    return [(bisect_right(page_starts, start), bisect_right(page_starts, end - 1)) for start, end in (offsets[n.node_id] for n in nodes)]


def test_split_with_spans_gives_the_splitters_chunks_and_where_they_lie():
    text = (
        "Intro.  Two  spaces.\n\n\nA new paragraph, " + "with a long clause and more words, " * 60 + "ending here.\n"
        + "\n".join(f"Line {i}: e.g., i.e., et al., ... ;; end" for i in range(50)) + "\n\n\n\n   \n\nTail."
    )
    for size, overlap in [(1024, None), (128, 20), (64, 10)]:
        chunks, spans = split_with_spans(text, size, overlap, where="test")
        assert chunks == _plain_chunks(text, size, overlap)
        assert [text[start:end] for start, end in spans] == chunks
        assert len(chunks) > 1 or size == 1024


def test_locate_chunks_finds_chunks_whose_whitespace_changed():
    """A splitter that collapses or drops whitespace (none does today, see split_with_spans) used to
    send such a chunk to the previous chunk's position: not even its first 40 characters were there."""
    text = "Table 2:   Results on GLUE.\n\n\nModel    Accuracy\nBERT     84.6\n\n\nThe end.   Really."
    chunks = ["Table 2: Results on GLUE.Model Accuracy", "Model Accuracy BERT 84.6", "The end. Really."]
    assert text.find(chunks[0][:40]) < 0
    spans = locate_chunks(text, chunks)
    assert [text[s:e] for s, e in spans] == [
        "Table 2:   Results on GLUE.\n\n\nModel    Accuracy",
        "Model    Accuracy\nBERT     84.6",
        "The end.   Really.",
    ]


def test_unlocatable_chunk_is_logged_and_spans_its_neighbours(caplog: pytest.LogCaptureFixture):
    text = "One fish. Two fish. Red fish. Blue fish."
    chunks = ["One fish.", "Tw0 fish. Red fish.", "Blue fish."]  # the middle one garbled
    with caplog.at_level(logging.WARNING, logger="tasks.chunk"):
        spans = locate_chunks(text, chunks, where="paper 2307.09288: children (size 128) of parent 3")
    assert spans == [(0, 9), (0, len(text)), (30, 40)]
    assert "Two fish. Red fish." in text[slice(*spans[1])]  # the real text lies inside the widened span
    assert [r.getMessage() for r in caplog.records] == [
        "paper 2307.09288: children (size 128) of parent 3: chunk 1 of 3 not found in the text;"
        " its span is widened to characters 0-40"
    ]


def test_small_paper_is_one_parent_with_children_at_each_size():
    pages = [_page(1, 8), _page(2, 8)]
    nodes = build_nodes("2307.09288", pages, ChunkingOptions())
    parents = [n for n in nodes if n.kind == "parent"]
    assert len(parents) == 1
    parent = parents[0]
    assert (parent.page_start, parent.page_end, parent.position, parent.parent_id) == (1, 2, 0, None)
    assert parent.text == "\n\n".join(pages)
    children = [n for n in nodes if n.kind == "child"]
    assert {n.chunk_size for n in children} == {128, 256, 512}
    assert all(n.parent_id == parent.node_id for n in children)
    # Texts this short fit in one child at 256 and 512 tokens, and need several at 128.
    assert [n.text for n in children if n.chunk_size == 512] == [parent.text]
    assert len([n for n in children if n.chunk_size == 128]) > 1


def test_chunk_boundaries_and_page_spans_are_exact():
    pages = [_page(p, 40) for p in range(1, 6)]
    nodes = build_nodes("1810.04805", pages, ChunkingOptions(parent_chunk_size=256, child_chunk_sizes=(64,)))
    text = "\n\n".join(pages)
    for node in nodes:
        assert node.text in text
        covered = "\n\n".join(pages[node.page_start - 1 : node.page_end])
        assert node.text in covered, node.node_id
        for number in range(node.page_start, node.page_end + 1):
            assert f"Page {number} " in node.text
    parents = [n for n in nodes if n.kind == "parent"]
    assert [p.position for p in parents] == list(range(len(parents)))
    assert parents[0].page_start == 1 and parents[-1].page_end == 5
    children = [n for n in nodes if n.kind == "child"]
    assert [c.position for c in children] == list(range(len(children)))
    for child in children:
        parent = next(p for p in parents if p.node_id == child.parent_id)
        assert child.text in parent.text
        assert parent.page_start <= child.page_start <= child.page_end <= parent.page_end


def test_every_size_cuts_as_sentence_splitter_does_though_splitters_share_what_they_learnt():
    """The splitters remember each text's token count and pieces across sizes: never a different chunk."""
    rng = random.Random(7)
    words = ["retrieval", "parent", "chunk", "e.g.", "Fig.", "vectors", "al.", "the", "of", "3.5"]
    paragraphs = [" ".join(" ".join(rng.choices(words, k=rng.randint(3, 40))) + "." for _ in range(rng.randint(1, 30)))
                  for _ in range(40)]  # fmt: skip
    pages = ["\n\n\n".join(paragraphs[i : i + 8]) for i in range(0, 40, 8)]
    options = ChunkingOptions(parent_chunk_size=512, child_chunk_sizes=(64, 128, 256))
    nodes = build_nodes("p", pages, options)
    parents = [n for n in nodes if n.kind == "parent"]
    assert [p.text for p in parents] == _plain_chunks(join_pages(pages)[0], 512, None) and len(parents) > 3
    for parent in parents:
        for size in options.child_chunk_sizes:
            children = [n.text for n in nodes if n.parent_id == parent.node_id and n.chunk_size == size]
            assert children == _plain_chunks(parent.text, size, options.child_chunk_overlap), (parent.position, size)
    assert build_nodes("p", pages, options) == nodes  # and again, with nothing remembered from the first time


def test_node_ids_are_deterministic_and_unique():
    pages = [_page(p, 30) for p in range(1, 4)]
    first = build_nodes("hep-th/9901001", pages, ChunkingOptions())
    again = build_nodes("hep-th/9901001", pages, ChunkingOptions())
    assert [n.node_id for n in first] == [n.node_id for n in again]
    assert len({n.node_id for n in first}) == len(first)
    assert first[0].node_id.startswith("hep-th/9901001:parent:1024:0:")
    changed = build_nodes("hep-th/9901001", [pages[0] + " A new sentence.", *pages[1:]], ChunkingOptions())
    assert changed[0].node_id != first[0].node_id  # the text hash is part of the id


def test_nodes_from_a_pdf_match_its_known_text_exactly(tmp_path):
    from tasks.chunk import parse_and_chunk
    from tests.pdfs import make_pdf

    pages = ["\n".join(f"Page {p} line {i} explains how parent chunks keep their pages." for i in range(12)) for p in range(1, 5)]
    path = tmp_path / "known.pdf"
    path.write_bytes(make_pdf(pages))
    options = ChunkingOptions(parent_chunk_size=200, child_chunk_sizes=(64,), child_chunk_overlap=10)
    parsed, nodes = parse_and_chunk(path, "2307.09288", "pypdfium2", 50, options)
    assert parsed.pages == pages  # the PDF gives back exactly the text drawn
    assert nodes == build_nodes("2307.09288", pages, options)
    parents = [n for n in nodes if n.kind == "parent"]
    assert len(parents) > 2 and parents[0].text.startswith("Page 1 line 0 ") and parents[-1].text.endswith("keep their pages.")
    for node in nodes:  # each node's span is exactly the pages whose text it contains
        expected = [p for p in range(1, 5) if f"Page {p} line" in node.text]
        assert (node.page_start, node.page_end) == (expected[0], expected[-1]), node.node_id


CORPUS_PDFS = ["arxiv/1810.04805.pdf", "arxiv/1907.11692.pdf", "arxiv/1910.01108.pdf", "arxiv/2401.02954.pdf",
               "local/BlockchainSolana.pdf", "bad/broken_font_excerpt.pdf"]


@needs_corpus
@pytest.mark.corpus
@pytest.mark.parametrize("engine", ["pypdfium2", "pypdf"])
@pytest.mark.parametrize("name", CORPUS_PDFS)
def test_corpus_nodes_lie_exactly_on_their_pages(name: str, engine: str, caplog: pytest.LogCaptureFixture):
    pages = extract_pages(CORPUS / name, engine=engine, max_pages=600).pages
    options = ChunkingOptions()
    with caplog.at_level(logging.WARNING, logger="tasks.chunk"):
        nodes = build_nodes("p", pages, options)
    assert not caplog.records  # no chunk was searched for, none widened
    text = join_pages(pages)[0]
    parents = [n for n in nodes if n.kind == "parent"]
    assert [p.text for p in parents] == _plain_chunks(text, 1024, None)
    for parent in parents:  # each size's children are SentenceSplitter's chunks of their parent
        for size in options.child_chunk_sizes:
            children = [n.text for n in nodes if n.parent_id == parent.node_id and n.chunk_size == size]
            assert children == _plain_chunks(parent.text, size, options.child_chunk_overlap), (parent.node_id, size)
    for node in nodes:  # the node's pages hold its text, and neither a page fewer at the start nor at the end
        first, last = node.page_start - 1, node.page_end
        assert node.text in "\n\n".join(pages[first:last]), node.node_id
        if last - first > 1:
            assert node.text not in "\n\n".join(pages[first + 1 : last]), node.node_id
            assert node.text not in "\n\n".join(pages[first : last - 1]), node.node_id
    assert {n.chunk_size for n in nodes if n.kind == "child"} == set(options.child_chunk_sizes)
