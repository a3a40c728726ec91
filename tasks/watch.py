"""The daily watch: arXiv's newest submissions in some categories, and which of them to ingest now.

Which papers: the newest `max_papers` submissions (arXiv's search, sorted by submission date) that
the lake does not hold as `ok`. A paper whose last attempt failed is tried again at most once per
UTC day: its `papers` row keeps the failure and `ingested_at` (the time of that attempt), so a
watch skips it when that time falls on today's UTC date and retries it from the next day on, for
as long as it stays among the newest `max_papers`. (`paperlake ingest ID` retries it any time.)
Prefect-free except the task at the bottom.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from prefect import task
from prefect.cache_policies import NO_CACHE

from paperlake.errors import PaperlakeError
from paperlake.ids import canonical_id
from paperlake.models import ArxivMetadata, PaperReport
from paperlake.settings import Settings
from storage.lake import Lake
from tasks.fetch import ArxivClient


@dataclass
class WatchPlan:
    """What one watch found: the ids to ingest (newest first) and one row per paper seen."""

    categories: list[str]
    seen: int = 0
    to_ingest: list[str] = field(default_factory=list)
    left: list[PaperReport] = field(default_factory=list)  # papers seen and left alone, with the reason
    rows: list[dict[str, object]] = field(default_factory=list)

    def add(self, meta: ArxivMetadata, action: str, reason: str = "") -> None:
        published = meta.published.date().isoformat() if meta.published else ""
        self.rows.append({"paper": meta.paper_id, "published": published, "action": action, "reason": reason,
                          "title": meta.title[:80]})  # fmt: skip
        if action == "skip":
            self.left.append(PaperReport(meta.paper_id, "skipped", reason=reason, title=meta.title))
        else:
            self.to_ingest.append(meta.paper_id)


def _attempt_day(row: dict) -> date:
    at: datetime = row["ingested_at"]
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).date()


def plan_watch(found: list[ArxivMetadata], known: dict[str, dict], today: date, categories: list[str]) -> WatchPlan:
    """Decide for each paper found (newest first): new, retry (failed on an earlier day) or skip."""
    plan = WatchPlan(categories, seen=len(found))
    for meta in found:
        row = known.get(canonical_id(meta.paper_id))  # how the lake spells ids
        if row is None:
            plan.add(meta, "new")
        elif row["status"] == "ok":
            plan.add(meta, "skip", "already in the lake")
        elif _attempt_day(row) < today:
            plan.add(meta, "retry", f"failed on {_attempt_day(row)}: {row['error']}")
        else:
            plan.add(meta, "skip", f"failed today, retried tomorrow: {row['error']}")
    return plan


def find_new_papers(settings: Settings, categories: list[str], max_papers: int) -> WatchPlan:
    """Ask arXiv for the newest submissions, then the lake which of them it lacks."""
    try:
        with ArxivClient.from_settings(settings) as client:
            found = client.newest(categories, max_papers)
    except PaperlakeError as exc:  # name the setting that points at arXiv
        raise PaperlakeError(f"{exc} (PAPERLAKE_ARXIV_URL={settings.arxiv_url})") from exc
    known = Lake(settings.data_dir).paper_states([canonical_id(meta.paper_id) for meta in found])
    return plan_watch(found, known, datetime.now(timezone.utc).date(), categories)


@task(name="find-new-papers", cache_policy=NO_CACHE)
def find_new_papers_task(settings: Settings, categories: list[str], max_papers: int) -> WatchPlan:
    return find_new_papers(settings, categories, max_papers)
