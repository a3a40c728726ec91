"""A Prefect API that fails while a run publishes its artifacts never fails a run whose data landed.

The seam: a real proxy in front of the session's Prefect server, answering 500 to artifact calls."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.lakehouse import connect_read_only as connect
from tests.fakes.prefect_proxy import PrefectProxy
from tests.pdfs import make_pdf, sample_pages

PAPERLAKE = str(Path(sys.executable).with_name("paperlake"))


@pytest.fixture
def proxy(prefect_server: str) -> Iterator[PrefectProxy]:
    with PrefectProxy(prefect_server) as running:
        yield running


def _ingest(tmp_path: Path, proxy: PrefectProxy, name: str) -> subprocess.CompletedProcess[str]:
    pdf = tmp_path / f"{name}.pdf"
    pdf.write_bytes(make_pdf(sample_pages(2), title=name))
    env = {**os.environ, "PAPERLAKE_DATA_DIR": str(tmp_path / "data"), "PREFECT_API_URL": proxy.api_url}
    return subprocess.run([PAPERLAKE, "ingest", str(pdf)], env=env, capture_output=True, text=True, timeout=300)


def _papers(tmp_path: Path) -> list[tuple]:
    with connect(tmp_path / "data") as conn:
        return conn.sql("SELECT title, status FROM papers ORDER BY title").fetchall()


def test_artifacts_that_cannot_be_created_leave_the_run_completed(tmp_path, proxy):
    proxy.fail("*", "/artifacts")
    result = _ingest(tmp_path, proxy, "First")
    assert result.returncode == 0, result.stderr
    assert any(call.startswith("POST /api/artifacts") for call in proxy.failed), proxy.failed
    assert "progress artifact ingest-progress not created" in result.stderr
    assert "artifact ingest-report not published" in result.stderr
    assert _papers(tmp_path) == [("First", "ok")]


def test_progress_updates_that_fail_leave_the_run_completed(tmp_path, proxy):
    proxy.fail("PATCH", "/artifacts/")
    result = _ingest(tmp_path, proxy, "Second")
    assert result.returncode == 0, result.stderr
    assert any(call.startswith("PATCH /api/artifacts/") for call in proxy.failed), proxy.failed
    assert "progress artifact ingest-progress not updated" in result.stderr
    assert _papers(tmp_path) == [("Second", "ok")]
