"""PDF text extraction: normalisation, both engines on generated PDFs, failure reasons, the real corpus."""

from __future__ import annotations

import hashlib
import os
import time
import unicodedata
from pathlib import Path

import pytest

from paperlake.errors import PaperError
from tasks.parse import TEXT_VERSION, extract_pages, normalize_text, parse_pdf, run_parser
from tests.pdfs import (
    encrypt_pdf,
    make_bomb_pdf,
    make_pdf,
    sample_pages,
    write_pdf,
)

ENGINES = ["pypdfium2", "pypdf"]
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")
ARXIV_PAGES = {"1810.04805": 16, "1907.11692": 13, "1910.01108": 5, "2401.02954": 4}
LEFTOVERS = ("\x00", "\x02", "\r", "\ufffe")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("line one\r\nline two\r\n", "line one\nline two"),
        ("representa\x02\r\ntion", "representation"),  # pdfium's soft-hyphen mark with its line break
        ("representa\x02tion", "representation"),  # ... and without (get_text_bounded drops the break)
        ("representa\ufffe\ntion", "representation"),  # the mark pdfium documents
        ("soft\u00adhyphen", "softhyphen"),
        ("GPT\x02\r\n4 is here", "GPT-\n4 is here"),  # not a word split: the hyphen and break stay
        ("\x00\x00Title\x00 words", "Title words"),
        ("bell\x07 and c1\x85 gone\tkept", "bell and c1 gone\tkept"),
        ("e\ufb03cient \ufb01ne", "efficient fine"),  # typographic ligatures expanded
        ("\ufb00 \ufb01 \ufb02 \ufb03 \ufb04 \ufb05 \ufb06", "ff fi fl ffi ffl st st"),
        ("ef-\n\ufb01cient", "efficient"),  # expanded before the line-end join, which needs letters
        # Meaning kept, where NFKC gave x2, 10−3, Rn, 1⁄2, μm, a1, and a space plus a combining mark.
        ("x\u00b2", "x\u00b2"),
        ("10\u207b\u00b3", "10\u207b\u00b3"),
        ("\u211d\u207f", "\u211d\u207f"),
        ("x\u2081 \u2264 \u03b1 \u2212 \u03b2, \u00bd \u00b5m, \u2460, a\u00b9", "x\u2081 \u2264 \u03b1 \u2212 \u03b2, \u00bd \u00b5m, \u2460, a\u00b9"),
        ("technologies\uff0c focusing", "technologies\uff0c focusing"),  # fullwidth, as printed (corpus)
        ("Lo\u00a8\u0131c", "Lo\u00a8\u0131c"),  # LaTeX's \"{\i} as extracted
        ("cafe\u0301 \u212b", "caf\u00e9 \u00c5"),  # NFC composes accents
        ("5\u00a0GB,\u2009thin\u202fnarrow\u3000wide", "5 GB, thin narrow wide"),  # odd spaces
        ("trailing no-break\u00a0\u00a0\nnext", "trailing no-break\nnext"),
        ("opti-\nmization", "optimization"),
        ("state-of-the-art stays", "state-of-the-art stays"),
        ("state-of-the-\nart", "state-of-the-art"),  # broken at one of its own hyphens
        ("fine-tuned, then fine-\ntuned again", "fine-tuned, then fine-tuned again"),
        ("Section-\nTwo", "Section-\nTwo"),  # capital after the break: not joined
        ("trailing   \nspaces\t\nend", "trailing\nspaces\nend"),
        ("a\n\n\n\n\n\nb\n\nc", "a\n\n\nb\n\nc"),  # 3+ blank lines collapse to two; fewer stay
        ("  \n\nbody\n\n", "body"),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


# What each TEXT_VERSION makes of a fixed sample. A failure here means normalisation changed: give
# TEXT_VERSION a new value (so papers re-ingest) and add its digest here.
TEXT_SAMPLE = "e\ufb03-\ncient x\u00b2 \u211d\u207f 10\u207b\u00b3 cafe\u0301\u00a0\uff0c\x02\r\nopti-\nmization\x00  \n\n\n\n\nend"
TEXT_DIGESTS = {"nfc-1": "4556acd800a5f380"}


def test_text_version_names_the_normalisation() -> None:
    digest = hashlib.sha256(normalize_text(TEXT_SAMPLE).encode()).hexdigest()[:16]
    assert TEXT_DIGESTS.get(TEXT_VERSION) == digest, f"normalisation changed: bump TEXT_VERSION ({digest})"


@pytest.mark.parametrize("engine", ENGINES)
def test_both_engines_keep_what_the_pdf_prints(tmp_path: Path, engine: str) -> None:
    drawn = "x\u00b2 + y\u00b3 = 10\u00b9 \u00b5m, \u00bd cup, na\u00efve, 5\u00a0GB of text in a line"
    path = write_pdf(tmp_path / "p.pdf", make_pdf([drawn, *sample_pages(1)]))
    parsed = extract_pages(path, engine=engine, max_pages=10)
    # pdfium gives a no-break space as a space, pypdf as it is: the map makes both a space.
    assert parsed.pages[0] == drawn.replace("\u00a0", " ")


@pytest.mark.parametrize("engine", ENGINES)
def test_text_round_trips_exactly(tmp_path: Path, engine: str) -> None:
    pages = sample_pages(3) + ["Caf\u00e9 na\u00efve (parens) back\\slash \u00fcber, a Latin-1 line\n" + "x" * 90]
    path = write_pdf(tmp_path / "p.pdf", make_pdf(pages, title="  A  Title\x00 ", author="\u00c9mile Author"))
    parsed = extract_pages(path, engine=engine, max_pages=10)
    assert parsed.pages == pages
    assert (parsed.title, parsed.author, parsed.n_pages) == ("A Title", "\u00c9mile Author", 4)


def test_missing_info_fields_are_none(tmp_path: Path) -> None:
    parsed = extract_pages(write_pdf(tmp_path / "p.pdf", make_pdf(sample_pages(1))), max_pages=10)
    assert (parsed.title, parsed.author) == (None, None)


@pytest.mark.parametrize("engine", ENGINES)
def test_parse_pdf_in_child_process(text_pdf: tuple[Path, list[str]], engine: str) -> None:
    path, pages = text_pdf
    parsed = parse_pdf(path, paper_id="2307.09288", engine=engine, max_pages=10, timeout_s=60, memory_mb=3072)
    assert parsed.pages == pages and parsed.title == "Attention Revisited"


def _reason(path: Path, **kwargs: object) -> PaperError:
    with pytest.raises(PaperError) as caught:
        parse_pdf(path, paper_id="2401.00001", **{"max_pages": 10, "timeout_s": 60, "memory_mb": 3072, **kwargs})
    assert caught.value.paper_id == "2401.00001"
    return caught.value


@pytest.mark.parametrize(
    ("name", "reason", "detail"),
    [
        ("encrypted.pdf", "encrypted", "PDF is encrypted with a password"),
        ("corrupt.pdf", "corrupt", "PDF cannot be read"),
        ("truncated.pdf", "corrupt", "PDF cannot be read"),
        ("empty.pdf", "corrupt", "file is empty (0 bytes)"),
        ("scanned.pdf", "no_text", "extracted 0 characters from 3 pages: no text layer (scanned?)"),
    ],
)
def test_bad_pdfs_fail_with_their_reason(pdf_dir: Path, name: str, reason: str, detail: str) -> None:
    error = _reason(pdf_dir / name)
    assert error.reason == reason and detail in error.detail


def test_owner_only_encryption_is_readable(tmp_path: Path) -> None:
    pages = sample_pages(2)
    path = write_pdf(tmp_path / "p.pdf", encrypt_pdf(make_pdf(pages), ""))
    for engine in ENGINES:
        assert extract_pages(path, engine=engine, max_pages=10).pages == pages


@pytest.mark.parametrize("engine", ENGINES)
def test_too_many_pages(tmp_path: Path, engine: str) -> None:
    path = write_pdf(tmp_path / "p.pdf", make_pdf(sample_pages(3)))
    with pytest.raises(PaperError, match="PDF has 3 pages, more than the limit of 2") as caught:
        extract_pages(path, engine=engine, max_pages=2)
    assert caught.value.reason == "too_many_pages"


def test_nearly_empty_text_is_no_text(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "p.pdf", make_pdf(["1", "2", "arXiv:2401.00001v1 [cs.CL] 5 Jan 2024", "4"]))
    with pytest.raises(PaperError, match="extracted 36 characters from 4 pages") as caught:
        extract_pages(path, max_pages=10)
    assert caught.value.reason == "no_text"


def test_decompression_bomb_stops_at_our_pypdf_limit(tmp_path: Path) -> None:
    # 40 MB inflated: over our 32 MB per-stream limit, under pypdf's default 75 MB.
    path = write_pdf(tmp_path / "bomb.pdf", make_bomb_pdf(sample_pages(1), inflated_mb=40))
    with pytest.raises(PaperError, match="page 1 exceeds a pypdf decompression safety limit") as caught:
        extract_pages(path, engine="pypdf", max_pages=10)
    assert caught.value.reason == "too_large"
    # pdfium has no such limit; the child's memory cap is what bounds it.
    assert extract_pages(path, engine="pypdfium2", max_pages=10).pages == sample_pages(1)


def test_slow_parse_times_out(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "big.pdf", make_pdf(sample_pages(600, lines_per_page=50)))
    started = time.monotonic()
    error = _reason(path, max_pages=1000, timeout_s=0.2)
    assert (error.reason, error.detail) == ("parse_timeout", "parsing took longer than 0.2 s; stopped")
    assert time.monotonic() - started < 5


def crash_parser(path: Path) -> None:
    os._exit(7)


def allocate_parser(path: Path) -> int:
    return len(bytearray(8 * 1024**3))


def raise_anonymous(path: Path) -> None:
    extract_pages(path, max_pages=1)  # raises PaperError with an empty paper_id


def test_run_parser_maps_crash_and_memory(text_pdf: tuple[Path, list[str]]) -> None:
    path, _ = text_pdf
    with pytest.raises(PaperError, match=r"parse_crashed: the parser process died \(exit code 7\)"):
        run_parser(crash_parser, path, paper_id="p1", timeout_s=30, memory_mb=None)
    with pytest.raises(PaperError, match="too_large: parsing needed more than the 1024 MB memory cap"):
        run_parser(allocate_parser, path, paper_id="p1", timeout_s=30, memory_mb=1024)
    with pytest.raises(PaperError) as caught:
        run_parser(raise_anonymous, path, paper_id="p1", timeout_s=30, memory_mb=None)
    assert (caught.value.paper_id, caught.value.reason) == ("p1", "too_many_pages")


@needs_corpus
@pytest.mark.corpus
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("paper_id", sorted(ARXIV_PAGES))
def test_corpus_arxiv_papers_extract(paper_id: str, engine: str) -> None:
    parsed = extract_pages(CORPUS / "arxiv" / f"{paper_id}.pdf", engine=engine, max_pages=600)
    assert parsed.n_pages == ARXIV_PAGES[paper_id]
    assert 1500 * parsed.n_pages < parsed.n_chars < 6000 * parsed.n_pages
    text = "\n".join(parsed.pages)
    assert not [char for char in LEFTOVERS if char in text]
    assert "ﬁ" not in text and "representa-" not in text


@needs_corpus
@pytest.mark.corpus
def test_corpus_scanned_paper_has_no_text() -> None:
    error = _reason(CORPUS / "bad" / "scanned_no_text_layer.pdf", max_pages=600)
    assert error.reason == "no_text" and "from 12 pages" in error.detail


@needs_corpus
@pytest.mark.corpus
@pytest.mark.parametrize("engine", ENGINES)
def test_corpus_broken_font_loses_its_nuls(engine: str) -> None:
    parsed = extract_pages(CORPUS / "bad" / "broken_font_excerpt.pdf", engine=engine, max_pages=600)
    text = "\n".join(parsed.pages)
    assert parsed.n_pages == 4 and parsed.n_chars > 5000
    assert "\x00" not in text and "Open Foundation and Fine-Tuned Chat Models" in text


@needs_corpus
@pytest.mark.corpus
@pytest.mark.parametrize("engine", ENGINES)
def test_corpus_text_differs_from_nfkc_only_where_meant(engine: str) -> None:
    """The evidence behind TEXT_MAP: after it, what NFKC would still change in the corpus is only
    fullwidth punctuation typed in English prose and LaTeX's spacing diaeresis, both kept as printed."""
    kept: set[str] = set()
    for path in sorted(CORPUS.glob("*/*.pdf")):
        if path.name != "scanned_no_text_layer.pdf":
            text = "\n".join(extract_pages(path, engine=engine, max_pages=600).pages)
            kept |= {char for char in text if unicodedata.normalize("NFKC", char) != char}
    assert kept == {"\uff0c", "\uff1a", "\u00a8"}
