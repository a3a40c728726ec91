from __future__ import annotations

from tasks.chunk import ChunkingOptions, build_nodes, join_pages, locate_chunks


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
