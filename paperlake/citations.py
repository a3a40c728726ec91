"""Citation markers `[paper_id p.X–Y]`: written for retrieved passages, read back from answers, checked.

A model is shown each retrieved passage under its marker and copies markers into its answer. What it
writes is read back and kept only when it names a passage that was retrieved: the same paper, and pages
within that passage's pages. Anything else shaped like a citation (another paper, other pages) is taken
out of the text and reported, never shown as real. Bracketed text that is not shaped like a citation
(a paper's own reference "[1]", "[Smith et al., 2020]") is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from paperlake.ids import match_arxiv_id

EN_DASH = "\u2013"
_BRACKET = re.compile(r"[ \t]*\[([^\[\]\n]{1,300})\]")
_ITEM = re.compile(
    r"^\s*(?P<paper>[A-Za-z0-9][\w.\-/]*?)(?P<version>v[0-9]{1,3})?\s*,?\s*"
    r"(?:(?:pp?\.|pages?)\s*(?P<start>[0-9]{1,5})(?:\s*[-\u2010-\u2015]\s*(?P<end>[0-9]{1,5}))?)?\s*$"
)
_LOCAL_ID = re.compile(r"local-[0-9a-f]{12}")


@dataclass(frozen=True)
class Pages:
    """Where a retrieved passage lies: what a citation of it may name."""

    paper_id: str
    page_start: int | None
    page_end: int | None

    @property
    def marker(self) -> str:
        return marker(self.paper_id, self.page_start, self.page_end)


def marker(paper_id: str, page_start: int | None, page_end: int | None) -> str:
    """`[2307.09288 p.12–13]` (en dash), `[2307.09288 p.12]` for one page, `[2307.09288]` without pages."""
    if page_start is None:
        return f"[{paper_id}]"
    if page_end is None or page_end == page_start:
        return f"[{paper_id} p.{page_start}]"
    return f"[{paper_id} p.{page_start}{EN_DASH}{page_end}]"


@dataclass(frozen=True)
class _Item:
    paper_id: str
    pages: tuple[int, int] | None


def _items(inside: str) -> list[_Item] | None:
    """The citations in one bracket (`;`-separated), or None when the bracket is not a citation at all."""
    items = []
    for part in inside.split(";"):
        found = _ITEM.match(part)
        if found is None:
            return None
        paper, start, end = found["paper"], found["start"], found["end"]
        id_shaped = match_arxiv_id(paper) is not None or _LOCAL_ID.fullmatch(paper) is not None
        if start is None and not id_shaped:
            return None  # "[1]", "[2020-2025]": the paper's own text
        pages = (int(start), int(end or start)) if start is not None else None
        items.append(_Item(paper, pages))
    return items


def _passages_named(item: _Item, passages: Sequence[Pages]) -> list[int]:
    """Indexes of the retrieved passages this citation names: same paper, pages within the passage's."""
    named = []
    for index, passage in enumerate(passages):
        if passage.paper_id != item.paper_id:
            continue
        if item.pages is None:
            if passage.page_start is None:
                named.append(index)
        elif passage.page_start is not None:
            end = passage.page_end if passage.page_end is not None else passage.page_start
            if passage.page_start <= item.pages[0] <= item.pages[1] <= end:
                named.append(index)
    return named


@dataclass
class Resolved:
    text: str  # the answer with every kept citation as its passage's own marker, and none other
    cited: list[int] = field(default_factory=list)  # passage indexes, in order of first mention
    dropped: list[str] = field(default_factory=list)  # citations naming no retrieved passage, as written


def resolve(text: str, passages: Sequence[Pages]) -> Resolved:
    """Check every citation of `text` against the retrieved `passages`; keep the true ones, drop the rest."""
    resolved = Resolved(text)

    def rewrite(found: re.Match[str]) -> str:
        items = _items(found[1])
        if items is None:
            return found[0]
        kept: list[str] = []
        for item in items:
            named = _passages_named(item, passages)
            if not named:
                resolved.dropped.append(f"[{found[1].strip()}]" if len(items) == 1 else f"[{_item_text(item)}]")
            for index in named:
                if index not in resolved.cited:
                    resolved.cited.append(index)
                if passages[index].marker not in kept:
                    kept.append(passages[index].marker)
        return " " + " ".join(kept) if kept else ""

    resolved.text = _BRACKET.sub(rewrite, text).strip()
    return resolved


def _item_text(item: _Item) -> str:
    if item.pages is None:
        return item.paper_id
    return marker(item.paper_id, *item.pages)[1:-1]
