"""PDF -> normalised text per page, in an isolated child process. Plain functions, no Prefect.

`extract_pages` does the work in-process (pypdf checks and metadata, then text with the chosen engine);
`parse_pdf` runs it through `run_parser`, which isolates any parser function and maps the child's fate
to PaperError reasons: parse_timeout, parse_crashed, too_large.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import pypdf
import pypdfium2 as pdfium
from pypdf import PasswordType, PdfReader
from pypdf.errors import LimitReachedError

from paperlake.errors import PaperError
from paperlake.isolation import IsolationCrashed, IsolationTimeout, describe_exit, run_isolated
from paperlake.models import ParsedPdf

T = TypeVar("T")
Engine = Literal["pypdfium2", "pypdf"]
log = logging.getLogger(__name__)

# Modules a parser child needs; preloaded once in the forkserver when parsing starts it first.
PARSER_PRELOAD: tuple[str, ...] = ("pypdf", "pypdfium2", "tasks.parse")

# pypdf's resource limits. pypdf 7 moved the module constants of pypdf.filters into pypdf.Configuration
# (assigning the old constants now raises DeprecationError), applied per context below. The defaults allow
# 75 MB per decoded stream; the largest decoded non-image stream in the shared corpus is 0.25 MB (BERT),
# so 32 MB per stream (128 MB of decoding work) still fits a page holding a huge vector plot while a zip
# bomb stops early. Images are never decoded for text. With the pypdfium2 engine pypdf only reads the
# structure (xref and object streams); pdfium has no such limits, the child's memory cap bounds it.
PYPDF_LIMITS: dict[str, int] = {
    "maximum_declared_stream_length": 64_000_000,  # raw size; a 50 MB PDF (max_pdf_mb) may hold one big image
    "zlib_maximum_output_length": 32_000_000,
    "lzw_maximum_output_length": 32_000_000,
    "run_length_maximum_output_length": 32_000_000,
    "array_based_stream_maximum_output_length": 32_000_000,
    "brotli_maximum_output_length": 32_000_000,
    "stream_decoding_work_maximum_length": 128_000_000,
}

# Text-layer check: a scanned paper yields almost nothing (a stamped arXiv id, a page number), a real
# one 2,000-5,000 characters per page. Below 25 visible characters per page on average (about one
# short line) or 100 in all (a title and a sentence), there is no usable text layer.
MIN_CHARS_PER_PAGE = 25
MIN_CHARS_TOTAL = 100

# The version of the text normalize_text makes. Part of papers.ingest_config, so papers whose text
# changes re-ingest: change it with any change to normalisation (a rule below or TEXT_MAP).
TEXT_VERSION = "nfc-1"

_SOFT_HYPHEN_BREAK = re.compile(r"[\x02\ufffe\u00ad]\n?")  # pdfium's/Unicode's "word hyphenated here"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")  # C0/C1 except \t \n, noncharacters
_LINE_END_HYPHEN = re.compile(r"([\w-]*[a-z])-\n([a-z]\w*)")  # "opti-\nmization"; compounds kept, see below
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_MANY_BLANK_LINES = re.compile(r"\n{4,}")  # 3+ blank lines

# What the text needs beyond NFC, and nothing more. NFKC (used before) also made x² into x2, 10⁻³ into
# 10−3 and ℝⁿ into Rn: a quoted formula would say something else. Chosen on the shared corpus, where
# NFKC and NFC differ only on pypdf's fi/fl ligatures (pdfium expands them itself), on fullwidth ，
# and ： in English prose typed on a Chinese keyboard (printed so, and so kept in LlamaIndex's own
# reference contexts for that paper), and on the spacing diaeresis of LaTeX's \"o, which NFKC made a
# space plus a combining mark. Of those only the ligatures are mapped; odd spaces are too (see below).
TEXT_MAP: dict[int, str] = str.maketrans(
    {
        # Typographic ligatures: one glyph for several letters, so words would not match their spelling
        # (nor join at a line-end hyphen). Expanded as NFKC does.
        "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st",
        # Every other Unicode space (Zs) is a plain space: pypdf passes a no-break space through where
        # pdfium gives a space, and the splitter, the hyphen join and the trailing-space trim know " ".
        **dict.fromkeys("\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "),
    }
)


def normalize_text(raw: str) -> str:
    """One normalisation for every engine; see the module tests for each case.

    Unicode NFC (it composes accents and changes no meaning) plus TEXT_MAP, so that text can be quoted
    as printed: superscripts, subscripts, math letters, minus signs, Greek and fullwidth forms stay.
    """
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    # A soft-hyphen mark stands for a hyphen at a line break (pdfium drops the break itself); make it
    # one, so both engines' output goes through the same joining rule below.
    text = _SOFT_HYPHEN_BREAK.sub("-\n", text)
    text = _CONTROL.sub("", text)
    text = unicodedata.normalize("NFC", text).translate(TEXT_MAP)  # before the join: "ef-\n\ufb01cient"
    text = _TRAILING_SPACE.sub("", text)
    text = _join_line_end_hyphens(text)
    text = _MANY_BLANK_LINES.sub("\n\n\n", text)
    return text.strip()


def _join_line_end_hyphens(text: str) -> str:
    """`opti-\nmization` -> `optimization`, but keep the hyphen of a compound broken at its own hyphen:
    `state-of-the-\nart` (already hyphenated) or `fine-\ntuned` when `fine-tuned` occurs elsewhere."""

    def join(match: re.Match[str]) -> str:
        head, tail = match.group(1), match.group(2)
        hyphenated = f"{head}-{tail}"
        return hyphenated if "-" in head or hyphenated in text else f"{head}{tail}"

    return _LINE_END_HYPHEN.sub(join, text)


def _clean_info(value: Any) -> str | None:
    """An info-dict string as one clean line, or None when missing or blank."""
    if value is None:
        return None
    text = " ".join(normalize_text(str(value)).split())
    return text[:1000] or None


class _Failure(Exception):
    """Raised inside extraction before the paper id is attached (see extract_pages)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


@contextmanager
def _pypdf_limits() -> Iterator[None]:
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # per-font warnings flood logs on real papers
    with pypdf.apply_configuration(**PYPDF_LIMITS):
        yield


def _check_with_pypdf(path: Path, max_pages: int) -> tuple[Any, str | None, str | None]:
    """Open with pypdf, refuse what we cannot or may not read; (reader, title, author)."""
    if path.stat().st_size == 0:  # a missing file raises here: that is our bug, not the paper's
        raise _Failure("corrupt", "file is empty (0 bytes)")
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and _decrypt_empty(reader) == PasswordType.NOT_DECRYPTED:
            raise _Failure("encrypted", "PDF is encrypted with a password")
        n_pages = len(reader.pages)
    except (_Failure, MemoryError):
        raise
    except LimitReachedError as exc:
        raise _Failure("too_large", f"PDF exceeds a safety limit while reading its structure: {exc}") from exc
    except Exception as exc:  # pypdf raises many types on broken files; all of them mean unreadable
        raise _Failure("corrupt", f"PDF cannot be read: {type(exc).__name__}: {exc}") from exc
    if n_pages == 0:
        raise _Failure("corrupt", "PDF has no pages")
    if n_pages > max_pages:
        raise _Failure("too_many_pages", f"PDF has {n_pages} pages, more than the limit of {max_pages}")
    title, author = _info_fields(reader)
    return reader, title, author


def _decrypt_empty(reader: Any) -> Any:
    try:
        return reader.decrypt("")
    except Exception:  # noqa: BLE001 - unsupported algorithm or broken encryption dict: unreadable all the same
        return PasswordType.NOT_DECRYPTED


def _info_fields(reader: Any) -> tuple[str | None, str | None]:
    try:
        info = reader.metadata
        return (_clean_info(info.title), _clean_info(info.author)) if info is not None else (None, None)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - a broken info dict must not cost us the text
        return None, None


def _pages_with_pdfium(path: Path, max_pages: int) -> list[str]:
    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        raise _Failure("corrupt", f"PDF cannot be opened by pdfium: {exc}") from exc
    try:
        if len(document) > max_pages:
            raise _Failure("too_many_pages", f"PDF has {len(document)} pages, more than the limit of {max_pages}")
        return [_pdfium_page_text(document, index) for index in range(len(document))]
    finally:
        document.close()


def _pdfium_page_text(document: Any, index: int) -> str:
    page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            return textpage.get_text_bounded()  # full Unicode, unlike get_text_range (UCS-2)
        finally:
            textpage.close()
    finally:
        page.close()


def _pages_with_pypdf(reader: Any) -> list[str]:
    texts = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            texts.append(page.extract_text())
        except MemoryError:
            raise
        except LimitReachedError as exc:
            raise _Failure("too_large", f"page {number} exceeds a pypdf decompression safety limit: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - one broken page should not lose the paper
            log.warning("pypdf could not extract page %d: %s: %s", number, type(exc).__name__, exc)
            texts.append("")
    return texts


def _require_text(pages: list[str]) -> None:
    visible = sum(len("".join(page.split())) for page in pages)
    if visible < MIN_CHARS_TOTAL or visible < MIN_CHARS_PER_PAGE * len(pages):
        raise _Failure(
            "no_text", f"extracted {visible} characters from {len(pages)} pages: no text layer (scanned?)"
        )


def extract_pages(path: Path, *, engine: Engine = "pypdfium2", max_pages: int, paper_id: str = "") -> ParsedPdf:
    """Normalised text per page plus title/author, in this process. Raises PaperError(paper_id, reason).

    Reasons: corrupt, encrypted, too_many_pages, too_large (a pypdf safety limit), no_text. `paper_id`
    only labels the error; `run_parser` fills it in when the caller left it empty.
    """
    if engine not in ("pypdfium2", "pypdf"):
        raise ValueError(f"unknown PDF engine {engine!r}: use pypdfium2 or pypdf")
    path = Path(path)
    try:
        with _pypdf_limits():
            reader, title, author = _check_with_pypdf(path, max_pages)
            raw_pages = _pages_with_pypdf(reader) if engine == "pypdf" else _pages_with_pdfium(path, max_pages)
        pages = [normalize_text(text) for text in raw_pages]
        _require_text(pages)
    except _Failure as failure:
        raise PaperError(paper_id, failure.reason, failure.detail) from None
    return ParsedPdf(pages=pages, title=title, author=author)


def run_parser(
    fn: Callable[..., T],
    *args: Any,
    paper_id: str,
    timeout_s: float,
    memory_mb: int | None,
    preload: tuple[str, ...] = PARSER_PRELOAD,
) -> T:
    """`fn(*args)` isolated (see paperlake.isolation), with the child's failures as PaperError reasons."""
    try:
        return run_isolated(fn, *args, timeout_s=timeout_s, memory_mb=memory_mb, preload=preload)
    except IsolationTimeout:
        raise PaperError(paper_id, "parse_timeout", f"parsing took longer than {timeout_s:g} s; stopped") from None
    except IsolationCrashed as exc:
        detail = f"the parser process died ({describe_exit(exc.exitcode)})"
        raise PaperError(paper_id, "parse_crashed", detail) from None
    except MemoryError:
        raise PaperError(paper_id, "too_large", f"parsing needed more than the {memory_mb} MB memory cap") from None
    except PaperError as exc:
        if exc.paper_id:
            raise
        raise PaperError(paper_id, exc.reason, exc.detail) from None


def parse_pdf(
    path: Path,
    *,
    paper_id: str,
    engine: Engine = "pypdfium2",
    max_pages: int,
    timeout_s: float,
    memory_mb: int | None,
) -> ParsedPdf:
    """Text per page of one PDF, extracted in a child process with a time limit and a memory cap."""
    return run_parser(
        _extract_for_paper, Path(path), engine, max_pages, paper_id,
        paper_id=paper_id, timeout_s=timeout_s, memory_mb=memory_mb,
    )


def _extract_for_paper(path: Path, engine: Engine, max_pages: int, paper_id: str) -> ParsedPdf:
    return extract_pages(path, engine=engine, max_pages=max_pages, paper_id=paper_id)
