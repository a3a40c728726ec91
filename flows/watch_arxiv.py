"""Flow `watch-arxiv`: every day, arXiv's newest submissions in some categories that the lake lacks, ingested."""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, Failed, State

from flows.ingest_arxiv import ingest_arxiv
from paperlake.ids import check_search
from paperlake.settings import load_settings
from tasks.report import publish_table
from tasks.run_logs import start_run
from tasks.watch import find_new_papers_task


@flow(name="watch-arxiv")
def watch_arxiv(
    categories: list[str] = ["cs.CL"],  # noqa: B006 - Prefect shows defaults in the UI
    max_papers: int = 20,
    extract: bool = True,
) -> State:
    """The newest `max_papers` submissions in any of `categories` (e.g. cs.CL, cs.IR) that the lake
    lacks, ingested by the `ingest-arxiv` subflow (and extracted when `extract`) in this run.

    A paper whose last attempt failed is tried again at most once per UTC day. The run ends Failed,
    naming the papers and reasons, when any of them failed."""
    settings = load_settings()
    settings.check_providers(llm=extract)
    start_run(settings)
    categories = check_search(categories, max_papers)
    plan = find_new_papers_task(settings, categories, max_papers)
    publish_table("watch-report", plan.rows, f"The newest {plan.seen} submissions in {' OR '.join(categories)}: what this run did")
    where = f"the newest {plan.seen} in {', '.join(categories)}"
    if not plan.to_ingest:
        return Completed(message=f"no new papers among {where}", data=plan.left)
    ingested = ingest_arxiv(plan.to_ingest, extract=extract, return_state=True)
    reports = ingested.result(raise_on_failure=False)
    reports = plan.left + (reports if isinstance(reports, list) else [])
    if not ingested.is_completed():
        return Failed(message=f"{len(plan.to_ingest)} new among {where}; {ingested.message}", data=reports)
    return Completed(message=f"{len(plan.to_ingest)} new papers among {where} in the lake", data=reports)
