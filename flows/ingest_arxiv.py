"""Flow `ingest-arxiv`: arXiv ids or local PDFs in, parent/child nodes with embeddings in the lake."""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from paperlake.ids import resolve_refs
from paperlake.models import PaperReport
from paperlake.settings import load_settings, workers_for_flows
from tasks.chunk import ChunkingOptions
from tasks.ingest import IngestOptions, ingest_paper_task
from tasks.ingest_run import lookup_metadata_task, remember_papers_task, split_current, stored_papers_task
from tasks.report import RunProgress, failure_message, publish_table, report_rows
from tasks.run_logs import start_run
from tasks.search_index import refresh_search_index_task


@flow(name="ingest-arxiv", task_runner=ThreadPoolTaskRunner(max_workers=workers_for_flows()))
def ingest_arxiv(
    arxiv_ids: list[str],
    parent_chunk_size: int = 1024,
    child_chunk_sizes: list[int] = [128, 256, 512],  # noqa: B006 - Prefect shows defaults in the UI
    child_chunk_overlap: int = 20,
    force: bool = False,
    extract: bool = False,
) -> State:
    """Ingest arXiv ids (`2307.09288`, `hep-th/9901001v1`) or local PDF paths/folders.

    Every good paper lands; the run ends Failed, naming the bad ones, if any failed.
    """
    settings = load_settings()
    settings.check_providers(llm=extract)
    start_run(settings)
    chunking = ChunkingOptions(parent_chunk_size, tuple(child_chunk_sizes), child_chunk_overlap)
    options = IngestOptions(chunking=chunking, force=force)
    sources, invalid = resolve_refs(arxiv_ids)
    reports = [PaperReport(e.paper_id, "failed", reason=e.one_line) for e in invalid]
    # arXiv's answer and the lake's committed rows at once: opening the lake (its extensions' signature
    # checks, the attach: about 0.2 s) costs no time of its own whenever arXiv takes longer to answer.
    asked = lookup_metadata_task.submit(settings, sources) if sources else None
    stored = stored_papers_task(settings, sources) if sources and not force else {}
    metadata = asked.result() if asked is not None else {}
    skipped, todo = split_current(sources, metadata, stored, options, settings)  # no task for a paper already current
    futures = [ingest_paper_task.submit(s, metadata.get(s.paper_id), options, settings, stored.get(s.paper_id)) for s in todo]
    reports += skipped
    if futures:
        reports += RunProgress("ingest", len(futures), key="ingest-progress").track(futures)
    publish_table("ingest-report", report_rows(reports), "One row per paper of this ingest run")
    message = failure_message(reports)
    if extract:
        from flows.extract_metadata import extract_metadata

        extraction = extract_metadata([r.paper_id for r in reports if r.status != "failed"], return_state=True)
        if extraction.is_failed():
            message = "; ".join(filter(None, [message, f"extraction: {extraction.message}"]))
    elif any(r.status == "ok" for r in reports):  # the extraction subflow refreshes it otherwise
        refresh_search_index_task(settings)
    if futures or extract:  # the lake changed: the next run's skip check then need not open it
        remember_papers_task(settings)
    if message:
        return Failed(message=message, data=reports)
    return Completed(message=f"{len(reports)} papers in the lake", data=reports)
