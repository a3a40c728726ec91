from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from paperlake.errors import PaperError, PaperlakeError
from paperlake.ids import (
    check_search,
    is_arxiv_id,
    paper_id_from_stem,
    parse_arxiv_id,
    printable_ref,
    resolve_refs,
    safe_file_stem,
)
from paperlake.models import PaperSource

PDF = b"%PDF-1.4\n% test\n%%EOF\n"


@pytest.mark.parametrize(
    ("ref", "paper_id", "version"),
    [
        ("2307.09288", "2307.09288", None),
        ("2307.09288v2", "2307.09288", "v2"),
        ("1501.00001", "1501.00001", None),
        ("0704.0001", "0704.0001", None),
        ("hep-th/9901001", "hep-th/9901001", None),
        ("math.GT/0309136v1", "math/0309136", "v1"),  # the subject class is not part of the id
        ("cond-mat/0101001v12", "cond-mat/0101001", "v12"),
    ],
)
def test_valid_ids(ref: str, paper_id: str, version: str | None) -> None:
    assert parse_arxiv_id(ref) == PaperSource(paper_id=paper_id, source="arxiv", requested_version=version)


@pytest.mark.parametrize(
    "ref",
    [
        "../../etc/passwd",
        "2401.12345\n",
        "2401.12345 ",
        " 2401.12345",
        "https://arxiv.org/abs/2307.09288",
        "arxiv.org/pdf/2307.09288",
        "",
        "   ",
        "\t",
        "\u0662\u0663\u0660\u0667.\u0660\u0669\u0662\u0668\u0668",  # Arabic-Indic digits
        "２３０７.０９２８８",  # fullwidth digits
        "2307.092",
        "2307.092888",
        "23071.09288",
        "2307.09288v",
        "2307.09288v0",
        "2307.09288V2",
        "hep-th/990100",
        "HEP-TH/9901001",
        "hep-th/9901001/../x",
        "2307.09288\x00",
    ],
)
def test_invalid_ids_rejected(ref: str) -> None:
    assert not is_arxiv_id(ref)
    with pytest.raises(PaperError) as caught:
        parse_arxiv_id(ref)
    assert caught.value.reason == "invalid_id"
    assert "\n" not in str(caught.value) and "\x00" not in str(caught.value)


def test_printable_ref_shows_invisible_parts() -> None:
    assert printable_ref("2401.12345\n") == "'2401.12345\\n'"
    assert printable_ref("") == "''"
    assert printable_ref("x" * 500).endswith("...")
    assert printable_ref("../../etc/passwd") == "../../etc/passwd"


def test_resolve_refs_rejects_nasty_refs_without_sources() -> None:
    sources, errors = resolve_refs(["../../etc/passwd", "2401.12345\n", "", "https://arxiv.org/abs/2307.09288"])
    assert sources == []
    assert [e.reason for e in errors] == ["invalid_id"] * 4
    assert errors[1].paper_id == "'2401.12345\\n'"


def test_resolve_refs_dedups_and_keeps_order() -> None:
    sources, errors = resolve_refs(["2307.09288", "hep-th/9901001", "2307.09288v2", "1810.04805"])
    assert errors == []
    assert [s.paper_id for s in sources] == ["2307.09288", "hep-th/9901001", "1810.04805"]
    assert sources[0].requested_version is None  # the first mention wins


def test_local_pdf_file(tmp_path: Path) -> None:
    pdf = tmp_path / "Paper.PDF"
    pdf.write_bytes(PDF)
    sources, errors = resolve_refs([str(pdf)])
    digest = hashlib.sha256(PDF).hexdigest()[:12]
    assert errors == []
    assert sources == [PaperSource(paper_id=f"local-{digest}", source="local", path=pdf.resolve())]


def test_local_non_pdf_file_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    _, errors = resolve_refs([str(tmp_path / "notes.txt"), str(tmp_path / "missing.pdf")])
    assert [e.reason for e in errors] == ["invalid_id", "invalid_id"]
    assert "not a .pdf" in errors[0].detail and "no such file" in errors[1].detail


def test_folder_of_pdfs_sorted_and_deduplicated(tmp_path: Path) -> None:
    (tmp_path / "b.pdf").write_bytes(PDF + b"b")
    (tmp_path / "a.pdf").write_bytes(PDF + b"a")
    (tmp_path / "copy-of-a.pdf").write_bytes(PDF + b"a")  # same bytes: same paper
    (tmp_path / "readme.txt").write_text("not a pdf")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nested.pdf").write_bytes(PDF + b"nested")  # not recursive
    sources, errors = resolve_refs([str(tmp_path), str(tmp_path / "a.pdf")])
    assert errors == []
    assert [s.path.name for s in sources if s.path] == ["a.pdf", "b.pdf"]
    assert all(s.source == "local" and s.paper_id.startswith("local-") for s in sources)


def test_folder_skips_symlink_pointing_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside.pdf"
    outside.write_bytes(PDF + b"outside")
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "inside.pdf").write_bytes(PDF + b"inside")
    (folder / "escape.pdf").symlink_to(outside)
    (folder / "alias.pdf").symlink_to(folder / "inside.pdf")  # inside: fine, same paper
    sources, errors = resolve_refs([str(folder)])
    assert errors == []
    assert [s.path for s in sources] == [(folder / "inside.pdf").resolve()]


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    _, errors = resolve_refs([str(tmp_path)])
    assert [e.reason for e in errors] == ["not_found"]


def test_id_shaped_ref_is_an_id_even_if_such_a_path_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hep-th").mkdir()
    (tmp_path / "hep-th" / "9901001").write_bytes(PDF)
    monkeypatch.chdir(tmp_path)
    sources, errors = resolve_refs(["hep-th/9901001", "./hep-th/9901001"])
    assert sources == [PaperSource(paper_id="hep-th/9901001", source="arxiv")]
    assert [e.reason for e in errors] == ["invalid_id"]  # as a path it is a file, but not a .pdf


@pytest.mark.parametrize(
    ("paper_id", "stem"),
    [("hep-th/9901001", "hep-th_9901001"), ("math.GT/0309136", "math.GT_0309136"),
     ("2307.09288", "2307.09288"), ("local-0123456789ab", "local-0123456789ab")],
)
def test_file_stem_round_trip(paper_id: str, stem: str) -> None:
    assert safe_file_stem(paper_id) == stem
    assert paper_id_from_stem(stem) == paper_id


@pytest.mark.parametrize("bad", ["../x", "2307.09288v2", "a/b/c", "", "local-xyz"])
def test_file_stem_rejects_non_ids(bad: str) -> None:
    with pytest.raises(ValueError):
        safe_file_stem(bad)


@pytest.mark.parametrize("bad", ["..", "hep-th/9901001", "x_y_z", "2307.09288v1"])
def test_stem_rejects_non_stems(bad: str) -> None:
    with pytest.raises(ValueError):
        paper_id_from_stem(bad)


def test_an_old_style_id_with_and_without_subject_class_is_one_paper():
    sources, errors = resolve_refs(["math.GT/0309136", "math/0309136v2"])
    assert errors == [] and [s.paper_id for s in sources] == ["math/0309136"]


def test_search_categories_checked_and_deduplicated() -> None:
    assert check_search(["cs.CL", "hep-th", "cs.CL", "astro-ph.CO"], 20) == ["cs.CL", "hep-th", "astro-ph.CO"]


@pytest.mark.parametrize(
    ("categories", "max_papers", "named"),
    [([], 5, "at least one"), (["cs.CL OR all:x"], 5, "cs.CL OR all:x"), (["cs.CL&max_results=9"], 5, "max_results"),
     (["cs.CL"], 0, "max papers 0"), (["cs.CL"], 2001, "2001"), (["cs.CL"], True, "True")],
)
def test_bad_search_named_in_one_line(categories: list[str], max_papers: int, named: str) -> None:
    with pytest.raises(PaperlakeError) as caught:
        check_search(categories, max_papers)
    assert named in str(caught.value) and "\n" not in str(caught.value)
