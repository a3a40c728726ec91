"""A run's steps around its papers: what arXiv says of them, which the lake already holds as asked,
and, once they are in, the lake's new state remembered for the runs that follow.

These are per run, not per paper: a re-run of a thousand papers costs one lake read here, not a
thousand task runs (Prefect: 5-35 ms each, worse past ~1,000).
"""

from __future__ import annotations

import logging

from prefect import task
from prefect.cache_policies import NO_CACHE

from paperlake.errors import PaperError
from paperlake.models import ArxivMetadata, PaperReport, PaperSource
from paperlake.redact import describe_error
from paperlake.settings import Settings
from storage.lakehouse import lake_exists
from tasks.fetch import ArxivApiError
from tasks.ingest import IngestOptions, ingest_context, skipped_report, stored_is_current

log = logging.getLogger(__name__)


def lookup_metadata(settings: Settings, sources: list[PaperSource]) -> dict[str, ArxivMetadata | PaperError]:
    """arXiv metadata for every arXiv source, in batched requests; an unreachable arXiv fails each."""
    ids = [s.paper_id for s in sources if s.source == "arxiv"]
    if not ids:
        return {}
    try:
        with ingest_context(settings).arxiv_client() as client:
            found = client.fetch_metadata(ids)
    except ArxivApiError as exc:  # arXiv unreachable or broken: name the setting that points at it
        hint = f" (PAPERLAKE_ARXIV_URL={settings.arxiv_url})"
        return {e.paper_id: PaperError(e.paper_id, e.reason, e.detail + hint) for e in exc.paper_errors()}
    missing = PaperError("", "not_found", f"arXiv at {settings.arxiv_url} has no record of this id")
    return {pid: found.get(pid) or PaperError(pid, missing.reason, missing.detail) for pid in ids}


def split_current(
    sources: list[PaperSource], metadata: dict[str, ArxivMetadata | PaperError], stored: dict[str, dict],
    options: IngestOptions, settings: Settings,
) -> tuple[list[PaperReport], list[PaperSource]]:  # fmt: skip
    """(a `skipped` report for each paper the lake already holds as asked, the sources left to ingest):
    a flow submits a task only for the second list."""
    skipped, todo = [], []
    for source in sources:
        previous = stored.get(source.paper_id)
        if stored_is_current(source, metadata.get(source.paper_id), previous, options, settings):
            assert previous is not None
            skipped.append(skipped_report(previous))
        else:
            todo.append(source)
    return skipped, todo


def stored_papers(settings: Settings, sources: list[PaperSource]) -> dict[str, dict]:
    """What the skip check needs of these papers' committed `papers` rows, in one read for the whole run:
    of the lake's memo when nothing was committed since the last run (the lake is then not opened),
    else of the lake. When some paper is new or failed before, the run will commit: the lake opens
    (or is made) on a thread meanwhile, while the first papers parse."""
    lake = ingest_context(settings).lake
    stored = lake.current_papers([s.paper_id for s in sources])
    if any(stored.get(s.paper_id, {}).get("status") != "ok" for s in sources):
        lake.prepare_in_background()
    return stored


def remember_papers(settings: Settings) -> None:
    """At the end of a run that wrote: the lake's new state kept for the next run's skip check, through
    this run's open lake (its next run, often a one-shot re-run, then need not open the lake at all).
    A failure is a warning: the papers landed, and the next run reads the lake instead."""
    if not lake_exists(settings.data_dir):
        return
    try:
        ingest_context(settings).lake.remember_papers()
    except Exception as exc:  # noqa: BLE001 - only a later run's speed depends on it
        log.warning("papers memo not written (the next run reads the lake): %s", describe_error(exc))


@task(name="fetch-arxiv-metadata", cache_policy=NO_CACHE)
def lookup_metadata_task(settings: Settings, sources: list[PaperSource]) -> dict[str, ArxivMetadata | PaperError]:
    return lookup_metadata(settings, sources)


@task(name="read-stored-papers", cache_policy=NO_CACHE)
def stored_papers_task(settings: Settings, sources: list[PaperSource]) -> dict[str, dict]:
    return stored_papers(settings, sources)


@task(name="remember-papers", cache_policy=NO_CACHE)
def remember_papers_task(settings: Settings) -> None:
    remember_papers(settings)
