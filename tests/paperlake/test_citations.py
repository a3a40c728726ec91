"""Citation markers: written with an en dash, read back from answers, kept only for retrieved passages."""

from __future__ import annotations

from paperlake.citations import Pages, marker, resolve

RETRIEVED = [Pages("2307.09288", 12, 13), Pages("local-74b55839b0ed", 2, 2), Pages("2307.09288", 20, 22)]


def test_markers_name_paper_and_pages_with_an_en_dash():
    assert marker("2307.09288", 12, 13) == "[2307.09288 p.12\u201313]"
    assert marker("2307.09288", 4, 4) == marker("2307.09288", 4, None) == "[2307.09288 p.4]"
    assert marker("local-74b55839b0ed", None, None) == "[local-74b55839b0ed]"


def test_exact_copies_are_kept_in_order_of_first_mention():
    text = "Safety RLHF follows SFT [2307.09288 p.20\u201322]. Markets grow [local-74b55839b0ed p.2]; see also [2307.09288 p.20\u201322]."
    resolved = resolve(text, RETRIEVED)
    assert resolved.text == text and resolved.cited == [2, 1] and resolved.dropped == []


def test_loose_spellings_become_the_passage_marker():
    resolved = resolve("A [2307.09288v2 p. 12-13]. B [2307.09288, pp.21]. C [2307.09288 p.12 – 13; local-74b55839b0ed p.2].", RETRIEVED)
    assert resolved.text == ("A [2307.09288 p.12\u201313]. B [2307.09288 p.20\u201322]. "
                             "C [2307.09288 p.12\u201313] [local-74b55839b0ed p.2].")  # fmt: skip
    assert resolved.cited == [0, 2, 1] and resolved.dropped == []


def test_invented_citations_are_dropped_and_listed():
    text = "Llama 2 was trained on 2T tokens [2307.09288 p.5]. Solana is fast [2106.00001 p.3] [local-000000000000]."
    resolved = resolve(text, RETRIEVED)
    assert resolved.text == "Llama 2 was trained on 2T tokens. Solana is fast."
    assert resolved.cited == [] and resolved.dropped == ["[2307.09288 p.5]", "[2106.00001 p.3]", "[local-000000000000]"]


def test_a_citation_spanning_beyond_a_passage_is_dropped_but_its_true_neighbour_kept():
    resolved = resolve("X [2307.09288 p.12\u201314; local-74b55839b0ed p.2].", RETRIEVED)
    assert resolved.text == "X [local-74b55839b0ed p.2]." and resolved.dropped == ["[2307.09288 p.12\u201314]"]


def test_the_papers_own_brackets_are_left_alone():
    text = "at a CAGR of 67.3% during 2020-2025 [1]. As in [Smith et al., 2020] and [2020-2025] and [a]."
    resolved = resolve(text, RETRIEVED)
    assert resolved.text == text and resolved.cited == [] and resolved.dropped == []


def test_two_passages_on_the_same_pages_are_both_cited():
    twins = [Pages("2307.09288", 3, 3), Pages("2307.09288", 3, 3)]
    resolved = resolve("Both [2307.09288 p.3].", twins)
    assert resolved.cited == [0, 1] and resolved.text == "Both [2307.09288 p.3]."
