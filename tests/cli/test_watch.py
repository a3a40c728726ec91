"""`paperlake watch` and `paperlake limits` as a user runs them: real processes, servers and files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from storage.lakehouse import connect_read_only
from tests.pdfs import make_pdf, sample_pages

PAPERLAKE = str(Path(sys.executable).with_name("paperlake"))


def _run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "PAPERLAKE_"))}
    return subprocess.run([PAPERLAKE, *args], env={**inherited, **env}, capture_output=True, text=True, timeout=timeout)


def test_watch_ingests_the_newest_papers_of_a_category(tmp_path, arxiv_server, prefect_server):
    for number, category in enumerate(["cs.IR", "cs.CL", "cs.IR"], 1):
        arxiv_server.add_paper(f"2607.0000{number}", make_pdf(sample_pages(1)), title=f"Paper {number}", authors=["A"],
                               categories=[category], published=f"2026-07-0{number}T00:00:00Z")  # fmt: skip
    env = {"PREFECT_API_URL": prefect_server, "PAPERLAKE_ARXIV_URL": arxiv_server.url, "PAPERLAKE_ARXIV_DELAY": "0",
           "PAPERLAKE_DATA_DIR": str(tmp_path / "data")}  # fmt: skip
    result = _run(["watch", "--category", "cs.IR", "--max", "5", "--no-extract"], env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "2 new papers among the newest 2 in cs.IR in the lake"
    with connect_read_only(tmp_path / "data") as conn:
        assert conn.sql("SELECT paper_id, status FROM papers ORDER BY 1").fetchall() == [("2607.00001", "ok"), ("2607.00003", "ok")]
        assert conn.sql("SELECT count(*) FROM extractions").fetchone() == (0,)


def test_a_bad_category_is_one_line_before_any_work(tmp_path):
    result = _run(["watch", "--category", "cs.CL OR all:x"], {"PAPERLAKE_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "'cs.CL OR all:x'" in result.stderr or "cs.CL OR all:x" in result.stderr
    assert not (tmp_path / "data").exists()


def test_limits_are_created_from_the_settings_on_the_server(prefect_server):
    result = _run(["limits"], {"PREFECT_API_URL": prefect_server, "PAPERLAKE_ARXIV_DELAY": "4", "PAPERLAKE_LLM_RPM": "30"})
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[2:]}
    assert "4.0" in rows["arxiv"] and "decaying 0.25/s" in rows["arxiv"] and "PAPERLAKE_ARXIV_DELAY" in rows["arxiv"]
    assert "2.0" in rows["llm"] and "decaying 0.5/s" in rows["llm"]


def test_limits_without_a_server_say_so(tmp_path):
    result = _run(["limits"], {"PREFECT_HOME": str(tmp_path)})  # no profile naming a server either
    assert result.returncode == 2 and "PREFECT_API_URL" in result.stderr and "Traceback" not in result.stderr
