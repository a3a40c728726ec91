"""Flow `watch-arxiv` against the arXiv stand-in's search feed and the session's Prefect server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from flows.ingest_arxiv import ingest_arxiv
from flows.watch_arxiv import watch_arxiv
from paperlake.settings import load_settings
from storage.lake import Lake
from storage.lakehouse import connect_read_only
from tests.helpers import paper_row
from tests.pdfs import make_pdf, sample_pages


def _add(server, paper_id: str, day: int, categories: list[str]) -> None:
    server.add_paper(paper_id, make_pdf(sample_pages(2)), title=f"Paper {paper_id}", authors=["A. Author"],
                     categories=categories, published=f"2026-03-{day:02d}T10:00:00Z")  # fmt: skip


def _papers(data_dir: Path) -> list[tuple]:
    with connect_read_only(data_dir) as conn:
        return conn.sql("SELECT paper_id, status, coalesce(split_part(error, ':', 1), '') FROM papers ORDER BY 1").fetchall()


def _watch_report() -> list[dict]:
    """The rows of the latest `watch-report` table artifact."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["watch-report"])),
                                      sort=ArtifactSort.CREATED_DESC, limit=1)  # fmt: skip
    return json.loads(found[0].data) if found else []


def test_new_papers_land_extracted_and_a_failure_is_retried_once_a_day(lake_env, arxiv_server):
    _add(arxiv_server, "2603.00001", 1, ["cs.CL"])
    _add(arxiv_server, "2603.00002", 2, ["cs.IR", "cs.CL"])
    _add(arxiv_server, "2603.00003", 3, ["cs.CL"])
    _add(arxiv_server, "2603.00004", 4, ["math.GT"])
    _add(arxiv_server, "2603.00005", 5, ["cs.CL"])
    arxiv_server.serve_html_next("/pdf/2603.00005")  # the first watch only (not_pdf is not retried)
    assert ingest_arxiv(["2603.00001"], return_state=True).is_completed()

    first = watch_arxiv(categories=["cs.CL"], max_papers=4, return_state=True)
    assert first.is_failed() and "2603.00005 (not_pdf" in first.message
    assert _papers(lake_env) == [("2603.00001", "ok", ""), ("2603.00002", "ok", ""), ("2603.00003", "ok", ""),
                                 ("2603.00005", "failed", "not_pdf")]  # fmt: skip
    with connect_read_only(lake_env) as conn:
        extracted = conn.sql("SELECT DISTINCT paper_id FROM extractions WHERE status = 'ok' ORDER BY 1").fetchall()
    assert extracted == [("2603.00002",), ("2603.00003",)]  # the watch's papers; the one ingested before was not asked
    assert [(r["paper"], r["action"]) for r in _watch_report()] == [
        ("2603.00005", "new"), ("2603.00003", "new"), ("2603.00002", "new"), ("2603.00001", "skip")]

    requests = len(arxiv_server.paths())
    again = watch_arxiv(categories=["cs.CL"], max_papers=4, return_state=True)
    assert again.is_completed() and again.message == "no new papers among the newest 4 in cs.CL"
    assert len(arxiv_server.paths()) == requests + 1  # the search only: the failed paper waits for tomorrow
    assert {r.paper_id: r.reason for r in again.result()}["2603.00005"].startswith("failed today, retried tomorrow")

    lake = Lake(load_settings().data_dir)  # as if that failure had happened yesterday
    yesterday = paper_row("2603.00005", status="failed", error="not_pdf: HTML")
    yesterday["ingested_at"] = datetime.now(timezone.utc) - timedelta(days=1)
    with lake.paper_lock("2603.00005"):
        assert lake.write_failure(yesterday)
    retried = watch_arxiv(categories=["cs.CL", "math.GT"], max_papers=2, extract=False, return_state=True)
    assert retried.is_completed(), retried.message
    assert retried.message == "2 new papers among the newest 2 in cs.CL, math.GT in the lake"
    assert _papers(lake_env)[-2:] == [("2603.00004", "ok", ""), ("2603.00005", "ok", "")]
