"""PDFs the tests make, with text they know: a generator written by hand plus a few pytest fixtures.

The generator writes uncompressed PDF 1.4 by hand (standard Helvetica, WinAnsi encoding, one `Tj` per line)
so every byte is predictable and both pypdfium2 and pypdf extract the lines back exactly. Loaded as a pytest
plugin by tests/conftest.py; the plain functions need no pytest.
"""

from __future__ import annotations

import io
import random
import zlib
from pathlib import Path

import pytest

PAGE_WIDTH, PAGE_HEIGHT = 612, 792  # US Letter, in points
FONT_SIZE, LEADING, TOP, LEFT = 10, 13, 750, 54

# A few hundred characters per page of ordinary prose, so "is there a text layer?" checks see real text.
SAMPLE_PARAGRAPH = [
    "Attention Is Mostly What You Need, Revisited",
    "We study how sparse attention patterns change the cost of training",
    "language models on long documents. Our method keeps the quality of",
    "dense attention while reading sixteen times longer inputs, and we",
    "report results on summarisation, retrieval and question answering.",
    "The code, the data and every trained model are released openly.",
]


def sample_pages(n_pages: int, *, lines_per_page: int = 6) -> list[str]:
    """Distinct, realistic text per page: the sample paragraph, numbered so each page differs."""
    pages = []
    for number in range(1, n_pages + 1):
        lines = [f"Page {number}: {SAMPLE_PARAGRAPH[0]}"]
        lines += [SAMPLE_PARAGRAPH[1 + i % (len(SAMPLE_PARAGRAPH) - 1)] for i in range(lines_per_page - 1)]
        pages.append("\n".join(lines))
    return pages


def _literal(text: str) -> bytes:
    """A PDF literal string in WinAnsi/PDFDoc (Latin-1 for our purposes), with the three special bytes escaped."""
    raw = text.encode("latin-1")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _text_string(text: str) -> bytes:
    """Info-dict strings: printable Latin-1 as a literal, anything else as UTF-16BE hex with a byte-order mark."""
    if all(" " <= char <= "~" or "\xa0" <= char <= "\xff" for char in text):
        return _literal(text)
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"


def _stream(content: bytes, *, deflate: bool = False) -> bytes:
    if deflate:
        data = zlib.compress(content, 9)
        return b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"
    return b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"


def _text_content(page_text: str) -> bytes:
    lines = page_text.split("\n")
    ops = [b"BT", b"/F1 %d Tf" % FONT_SIZE, b"%d TL" % LEADING, b"%d %d Td" % (LEFT, TOP)]
    for index, line in enumerate(lines):
        ops.append((b"T* " if index else b"") + _literal(line) + b" Tj")
    ops.append(b"ET")
    return b"\n".join(ops)


def _graphics_content(seed: int) -> bytes:
    """Grey boxes and strokes where a scan's words would be: ink on the page, no text layer."""
    rng = random.Random(seed)
    ops = [b"0.3 g", b"0.5 w"]
    for row in range(40):
        y = TOP - row * 16
        x = LEFT
        while x < PAGE_WIDTH - LEFT - 40:
            width = rng.randint(12, 60)
            ops.append(b"%d %d %d 8 re f" % (x, y, width))
            x += width + rng.randint(4, 9)
    ops.append(b"%d 60 m %d 60 l S" % (LEFT, PAGE_WIDTH - LEFT))
    return b"\n".join(ops)


def _assemble(contents: list[bytes], *, info: dict[str, str], with_font: bool, deflate: bool = False) -> bytes:
    """Objects in order (catalog last, so a truncated file loses its root), then an exact xref table."""
    n_pages = len(contents)
    font_id = 1
    first_page_id = 2  # page i is object 2+2i, its content stream 3+2i
    pages_id = first_page_id + 2 * n_pages
    info_id, catalog_id = pages_id + 1, pages_id + 2
    resources = b"<< /Font << /F1 %d 0 R >> >>" % font_id if with_font else b"<< >>"

    objects: dict[int, bytes] = {
        font_id: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    }
    for index, content in enumerate(contents):
        page_id = first_page_id + 2 * index
        objects[page_id] = b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Resources %s /Contents %d 0 R >>" % (
            pages_id, PAGE_WIDTH, PAGE_HEIGHT, resources, page_id + 1)
        objects[page_id + 1] = _stream(content, deflate=deflate)
    kids = b" ".join(b"%d 0 R" % (first_page_id + 2 * i) for i in range(n_pages))
    objects[pages_id] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n_pages)
    objects[info_id] = b"<< " + b" ".join(b"/%s %s" % (k.encode(), _text_string(v)) for k, v in info.items()) + b" >>"
    objects[catalog_id] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id

    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for obj_id in sorted(objects):
        offsets[obj_id] = out.tell()
        out.write(b"%d 0 obj\n" % obj_id + objects[obj_id] + b"\nendobj\n")
    xref_at = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (catalog_id + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offsets[i] for i in range(1, catalog_id + 1)))
    out.write(b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\n" % (catalog_id + 1, catalog_id, info_id))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return out.getvalue()


def make_pdf(pages: list[str], *, title: str | None = None, author: str | None = None) -> bytes:
    """A valid PDF, one page per string, each `\\n`-separated line drawn as one text line (not wrapped).

    Keep lines under ~100 characters and pages under ~55 lines: text drawn off the page is not visible
    and pypdfium2 (which reads the page area) leaves it out.
    """
    if not pages:
        raise ValueError("a PDF needs at least one page")
    info = {"Producer": "paperlake tests"}
    if title is not None:
        info["Title"] = title
    if author is not None:
        info["Author"] = author
    return _assemble([_text_content(text) for text in pages], info=info, with_font=True)


def make_textless_pdf(n_pages: int) -> bytes:
    """Pages with drawn graphics and no text layer at all: what a scanned paper looks like to a text extractor."""
    contents = [_graphics_content(seed) for seed in range(n_pages)]
    return _assemble(contents, info={"Producer": "scanner"}, with_font=False)


def make_bomb_pdf(pages: list[str], *, inflated_mb: int) -> bytes:
    """Like make_pdf, but each page's content stream is deflated and inflates to `inflated_mb` MB
    (the text, then blank padding): a small file that tests decompression limits."""
    padding = b" " * (inflated_mb * 1024 * 1024)
    contents = [_text_content(text) + b"\n" + padding for text in pages]
    return _assemble(contents, info={"Producer": "bomb"}, with_font=True, deflate=True)


def encrypt_pdf(data: bytes, user_password: str, *, algorithm: str = "AES-128") -> bytes:
    """The same PDF encrypted by pypdf; a non-empty user password makes it unreadable without that password."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def corrupt_pdf() -> bytes:
    """Starts like a PDF, then garbage: no objects, no xref, no trailer."""
    rng = random.Random(1234)
    return b"%PDF-1.7\n" + bytes(rng.randrange(256) for _ in range(4096))


def truncate_pdf(data: bytes, fraction: float = 0.5) -> bytes:
    """The first part of a PDF, as an interrupted download leaves it (our generator puts the catalog last)."""
    return data[: int(len(data) * fraction)]


def write_pdf(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def text_pdf(tmp_path: Path) -> tuple[Path, list[str]]:
    """A 3-page PDF with known text: (path, page texts)."""
    pages = sample_pages(3)
    return write_pdf(tmp_path / "paper.pdf", make_pdf(pages, title="Attention Revisited", author="A. Author")), pages


@pytest.fixture
def pdf_dir(tmp_path: Path) -> Path:
    """A folder of PDFs, good and bad, named for what they are."""
    folder = tmp_path / "pdfs"
    good = make_pdf(sample_pages(2), title="A Good Paper", author="Ada Lovelace")
    write_pdf(folder / "good.pdf", good)
    write_pdf(folder / "second.pdf", make_pdf(sample_pages(4), title="Another Paper"))
    write_pdf(folder / "encrypted.pdf", encrypt_pdf(good, "secret"))
    write_pdf(folder / "corrupt.pdf", corrupt_pdf())
    write_pdf(folder / "truncated.pdf", truncate_pdf(good))
    write_pdf(folder / "empty.pdf", b"")
    write_pdf(folder / "scanned.pdf", make_textless_pdf(3))
    return folder
