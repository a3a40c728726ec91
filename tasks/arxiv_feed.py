"""arXiv's Atom API answers read into `ArxivMetadata`: pure functions, no network (tasks/fetch.py asks)."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from datetime import datetime

from paperlake.ids import canonical_id, match_arxiv_id
from paperlake.models import ArxivMetadata

_ATOM = "{http://www.w3.org/2005/Atom}"


def _text(element: ET.Element, tag: str) -> str:
    return " ".join((element.findtext(tag) or "").split())


def _timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def parse_atom_entry(entry: ET.Element) -> ArxivMetadata | None:
    """One `<entry>` of the feed; None for arXiv's "Error" entries and anything unreadable."""
    entry_url = _text(entry, f"{_ATOM}id")
    match = match_arxiv_id(entry_url.partition("/abs/")[2])
    if _text(entry, f"{_ATOM}title") == "Error" or "/abs/" not in entry_url or match is None:
        return None
    categories = [c.get("term", "") for c in entry.findall(f"{_ATOM}category")]
    return ArxivMetadata(
        paper_id=match["id"],
        version=match["version"] or "v1",
        title=_text(entry, f"{_ATOM}title"),
        authors=[_text(a, f"{_ATOM}name") for a in entry.findall(f"{_ATOM}author")],
        abstract=_text(entry, f"{_ATOM}summary"),
        categories=list(dict.fromkeys(c for c in categories if c)),
        published=_timestamp(_text(entry, f"{_ATOM}published")),
        updated=_timestamp(_text(entry, f"{_ATOM}updated")),
    )


def parse_atom_entries(xml_bytes: bytes) -> list[ArxivMetadata]:
    """Every readable entry of an API answer, in feed order (ET.ParseError when it is not XML)."""
    entries = (parse_atom_entry(entry) for entry in ET.fromstring(xml_bytes).iter(f"{_ATOM}entry"))
    return [meta for meta in entries if meta is not None]


def parse_atom_feed(xml_bytes: bytes, requested: list[str]) -> dict[str, ArxivMetadata]:
    """Entries of an API answer keyed by the requested id they answer; unknown ids are absent."""
    # arXiv answers `math.GT/0309136` as `math/0309136`: match both spellings to the request.
    wanted = {canonical_id(pid): pid for pid in requested}
    found: dict[str, ArxivMetadata] = {}
    for meta in parse_atom_entries(xml_bytes):
        asked_as = wanted.get(canonical_id(meta.paper_id))
        if asked_as is not None:
            found[asked_as] = dataclasses.replace(meta, paper_id=asked_as)
    return found
