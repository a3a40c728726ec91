"""Which of arXiv's newest papers a watch ingests: new ones, and failed ones at most once a UTC day."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from paperlake.models import ArxivMetadata
from tasks.watch import plan_watch

TODAY = date(2026, 3, 10)


def meta(paper_id: str) -> ArxivMetadata:
    return ArxivMetadata(paper_id, "v1", f"Title {paper_id}", ["A"], "", ["cs.CL"], datetime(2026, 3, 9, tzinfo=timezone.utc))


def row(status: str, at: datetime, error: str | None = None) -> dict:
    return {"status": status, "error": error, "ingested_at": at}


def test_new_papers_are_ingested_newest_first_and_good_ones_left_alone():
    found = [meta("2603.00003"), meta("2603.00002"), meta("2603.00001")]
    known = {"2603.00002": row("ok", datetime(2026, 3, 10, 0, 30, tzinfo=timezone.utc))}
    plan = plan_watch(found, known, TODAY, ["cs.CL"])
    assert plan.to_ingest == ["2603.00003", "2603.00001"]
    assert [(r.paper_id, r.status, r.reason) for r in plan.left] == [("2603.00002", "skipped", "already in the lake")]
    assert [r["action"] for r in plan.rows] == ["new", "skip", "new"] and plan.seen == 3


def test_a_failed_paper_is_retried_from_the_next_utc_day_on():
    midnight = datetime(2026, 3, 10, tzinfo=timezone.utc)
    known = {
        "2603.00001": row("failed", midnight + timedelta(seconds=1), "2603.00001: not_pdf: HTML"),  # today, just after 00:00
        "2603.00002": row("failed", midnight - timedelta(seconds=1), "2603.00002: download_failed: 503"),  # yesterday 23:59:59
        "2603.00003": row("failed", datetime(2026, 3, 9, 23, 30), "naive time read as UTC"),
    }
    plan = plan_watch([meta(pid) for pid in sorted(known)], known, TODAY, ["cs.CL"])
    assert plan.to_ingest == ["2603.00002", "2603.00003"]
    assert plan.left[0].reason == "failed today, retried tomorrow: 2603.00001: not_pdf: HTML"
    assert plan.rows[1]["reason"] == "failed on 2026-03-09: 2603.00002: download_failed: 503"


def test_a_late_evening_failure_in_another_timezone_counts_by_its_utc_day():
    tokyo = timezone(timedelta(hours=9))
    known = {"2603.00001": row("failed", datetime(2026, 3, 10, 8, 0, tzinfo=tokyo), "x")}  # 2026-03-09 23:00 UTC
    assert plan_watch([meta("2603.00001")], known, TODAY, ["cs.CL"]).to_ingest == ["2603.00001"]
