"""What the user asked for, checked before any network or lake access: arXiv ids and local PDFs.

How a ref is read (in this order):
1. A well-formed arXiv id is always an id, even if a file of that name exists: id-shaped
   refs never touch the disk. New style `2307.09288[vN]` (yymm.nnnn or yymm.nnnnn, ASCII digits
   only) and old style `hep-th/9901001[vN]`, `math.GT/0309136[vN]`.
   To ingest a file or folder whose name looks like an id, write it as `./2307.09288`.
2. Otherwise, an existing folder is a folder of PDFs: every `*.pdf` directly in it, sorted by
   name; symlinks resolving outside the folder are skipped.
3. Otherwise, an existing file whose name ends in `.pdf` (any case) is a local PDF, identified
   by the hash of its bytes (so renaming or copying it does not ingest it twice).
4. Anything else fails with `invalid_id`: URLs, `../../etc/passwd` (a file, but not a .pdf),
   text with whitespace or control characters, empty text, non-ASCII digits.
"""

from __future__ import annotations

import re
from pathlib import Path

from paperlake.errors import PaperError, PaperlakeError
from paperlake.files import file_sha256
from paperlake.models import PaperSource

# [0-9], never \d: \d also matches Arabic-Indic and other Unicode digits.
_VERSION = r"(?P<version>v[1-9][0-9]{0,2})?"
_NEW_STYLE = re.compile(r"(?P<id>[0-9]{4}\.[0-9]{4,5})" + _VERSION)
_OLD_STYLE = re.compile(r"(?P<id>[a-z]+(?:-[a-z]+)*(?:\.[A-Za-z]+(?:-[A-Za-z]+)*)?/[0-9]{7})" + _VERSION)
_LOCAL_ID = re.compile(r"local-[0-9a-f]{12}")
_SHOWN_LIMIT = 120
_HINT = "give an arXiv id like 2307.09288 or hep-th/9901001, a .pdf file, or a folder of PDFs"


def printable_ref(text: str) -> str:
    """The ref as one visible line for errors: control characters escaped, blank ends quoted."""
    shown = repr(text)[1:-1]
    if not text or text != text.strip():
        shown = repr(text)  # quotes make empty text and stray spaces visible
    return shown if len(shown) <= _SHOWN_LIMIT else shown[:_SHOWN_LIMIT] + "..."


def match_arxiv_id(text: str) -> re.Match[str] | None:
    """The full match of an arXiv id with optional version (groups `id`, `version`), else None."""
    return _NEW_STYLE.fullmatch(text) or _OLD_STYLE.fullmatch(text)


def is_arxiv_id(text: str) -> bool:
    return match_arxiv_id(text) is not None


def parse_arxiv_id(text: str) -> PaperSource:
    """`2307.09288v2` -> PaperSource(paper_id='2307.09288', requested_version='v2'); else PaperError."""
    match = match_arxiv_id(text)
    if match is None:
        raise PaperError(printable_ref(text), "invalid_id", f"not an arXiv id; {_HINT}")
    return PaperSource(paper_id=canonical_id(match["id"]), source="arxiv", requested_version=match["version"])


def canonical_id(paper_id: str) -> str:
    """arXiv's own spelling: an old-style id's subject class is not part of it.

    `math.GT/0309136` and `math/0309136` are one paper; the lake must hold it once."""
    archive, slash, number = paper_id.partition("/")
    return f"{archive.split('.', 1)[0]}/{number}" if slash else paper_id


def local_pdf_source(path: Path) -> PaperSource:
    """A local PDF named by the first 12 hex digits of the sha256 of its bytes."""
    digest = file_sha256(path)
    return PaperSource(paper_id=f"local-{digest[:12]}", source="local", path=path.resolve())


def _is_pdf_name(path: Path) -> bool:
    return path.suffix.lower() == ".pdf"


def pdfs_in_folder(folder: Path) -> list[Path]:
    """Every `*.pdf` directly in `folder`, sorted, resolved; symlinks leading outside are skipped."""
    root = folder.resolve()
    found: list[Path] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if not _is_pdf_name(entry):
            continue
        target = entry.resolve()
        if root not in target.parents:
            continue  # a symlink out of the folder must not pull in files the user did not point at
        if target.is_file():
            found.append(target)
    return found


def _resolve_path_ref(ref: str) -> list[PaperSource]:
    """A ref that is not an id: a folder of PDFs or one PDF file, else PaperError."""
    shown = printable_ref(ref)
    if not ref.strip() or not ref.isprintable() or "://" in ref:  # rejected without touching the disk
        raise PaperError(shown, "invalid_id", f"not an arXiv id; {_HINT}")
    path = Path(ref)
    try:
        if path.is_dir():
            pdfs = pdfs_in_folder(path)
            if not pdfs:
                raise PaperError(shown, "not_found", "folder holds no .pdf files")
            return [local_pdf_source(pdf) for pdf in pdfs]
        if path.is_file() and _is_pdf_name(path):
            return [local_pdf_source(path)]
    except OSError as exc:
        raise PaperError(shown, "not_found", f"cannot read: {exc.strerror or exc}") from exc
    if path.is_file():
        raise PaperError(shown, "invalid_id", f"a file, but not a .pdf; {_HINT}")
    raise PaperError(shown, "invalid_id", f"not an arXiv id and no such file or folder; {_HINT}")


def resolve_ref(ref: str) -> list[PaperSource]:
    """One ref -> its sources (a folder gives several); PaperError when it is unusable."""
    if is_arxiv_id(ref):
        return [parse_arxiv_id(ref)]
    return _resolve_path_ref(ref)


def resolve_refs(refs: list[str]) -> tuple[list[PaperSource], list[PaperError]]:
    """Sources deduplicated by paper_id (first wins, order kept), and one error per bad ref."""
    sources: dict[str, PaperSource] = {}
    errors: list[PaperError] = []
    for ref in refs:
        try:
            resolved = resolve_ref(ref)
        except PaperError as exc:
            errors.append(exc)
            continue
        for source in resolved:
            sources.setdefault(source.paper_id, source)
    return list(sources.values()), errors


def is_paper_id(text: str) -> bool:
    """A stored paper id: an arXiv id without version, or `local-<12 hex>`."""
    match = match_arxiv_id(text)
    return (match is not None and not match["version"]) or _LOCAL_ID.fullmatch(text) is not None


def safe_file_stem(paper_id: str) -> str:
    """The stem of a paper's files in the lake: `hep-th/9901001` -> `hep-th_9901001`.

    Reversible because paper ids never contain `_` and hold at most one `/`.
    """
    if not is_paper_id(paper_id):
        raise ValueError(f"not a paper id without version: {printable_ref(paper_id)}")
    return paper_id.replace("/", "_")


def paper_id_from_stem(stem: str) -> str:
    """Inverse of `safe_file_stem`; ValueError for a stem no paper id gives."""
    paper_id = stem.replace("_", "/")
    if "/" in stem or not is_paper_id(paper_id):
        raise ValueError(f"not a paper file stem: {printable_ref(stem)}")
    return paper_id


# arXiv subject classes, as the API's `cat:` search takes them: cs.CL, math.GT, hep-th, astro-ph.CO.
_CATEGORY = re.compile(r"[a-z]+(?:-[a-z]+)*(?:\.[A-Za-z]+(?:-[A-Za-z]+)*)?")
MAX_SEARCH_RESULTS = 2000  # arXiv's API answers at most this many entries per request


def check_search(categories: list[str], max_papers: int) -> list[str]:
    """The categories of an arXiv search, deduplicated; PaperlakeError names a bad one or a bad cap.

    Checked before any request: a category goes into the query string, so only that shape passes."""
    if not categories:
        raise PaperlakeError("give at least one arXiv category, like cs.CL")
    for category in categories:
        if not isinstance(category, str) or not _CATEGORY.fullmatch(category):
            raise PaperlakeError(f"category {printable_ref(str(category))}: not an arXiv category like cs.CL or hep-th")
    if isinstance(max_papers, bool) or not isinstance(max_papers, int) or not 1 <= max_papers <= MAX_SEARCH_RESULTS:
        raise PaperlakeError(f"max papers {max_papers!r}: must be a whole number from 1 to {MAX_SEARCH_RESULTS}")
    return list(dict.fromkeys(categories))
