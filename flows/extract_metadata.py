"""Flow `extract-metadata`: a summary and five questions for every parent in the lake, as nodes."""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from paperlake.settings import load_settings, workers_for_flows
from tasks.derive import collect_passages_task, records_by_paper, write_extractions_task
from tasks.extract import extract_passages_task
from tasks.report import failure_message, publish_table, report_rows
from tasks.run_logs import start_run
from tasks.search_index import refresh_search_index_task


@flow(name="extract-metadata", task_runner=ThreadPoolTaskRunner(max_workers=workers_for_flows()))
def extract_metadata(paper_ids: list[str] | None = None) -> State:
    """Summaries and questions for the given papers (default: every good paper in the lake).

    Cached by passage text, model and prompt: a re-run on unchanged papers makes no LLM call.
    """
    settings = load_settings()
    settings.check_providers(llm=True)
    start_run(settings)
    passages, reports = collect_passages_task(settings, paper_ids)
    run = extract_passages_task(passages, settings)
    grouped = records_by_paper(run.records)
    futures = [write_extractions_task.submit(settings, pid, records) for pid, records in grouped.items()]
    reports += [future.result() for future in futures]
    if passages:  # a current index makes a changed lake's first search as quick as any other
        refresh_search_index_task(settings)
    publish_table("extract-report", [run.summary_row()], "Calls, cache hits, failures and tokens of this extraction run")
    publish_table("extract-papers", report_rows(reports), "One row per paper of this extraction run")
    message = failure_message(reports)
    if message:
        return Failed(message=message, data=run)
    return Completed(message=f"{len(passages)} parents: {run.calls} calls, {run.cache_hits} cached", data=run)
