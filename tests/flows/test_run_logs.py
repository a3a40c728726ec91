"""What an operator sees: paperlake's own warnings in a flow run's logs on the (real) Prefect server,
read back through Prefect's client, with secrets redacted."""

from __future__ import annotations

import secrets
import time
import uuid

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.client.schemas.objects import Log
from prefect.states import State

from flows.extract_metadata import extract_metadata
from flows.ingest_arxiv import ingest_arxiv
from tests.pdfs import make_pdf, sample_pages


def _logs(state: State, wanted: str, wait_s: float = 60.0) -> list[Log]:
    """The run's logs once one from logger `wanted` arrived (Prefect ships them in batches, in the background)."""
    run_id: uuid.UUID = state.state_details.flow_run_id
    deadline = time.monotonic() + wait_s
    while True:
        with get_client(sync_client=True) as client:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        if any(log.name == wanted for log in logs) or time.monotonic() > deadline:
            return logs
        time.sleep(0.5)


def test_a_failed_paper_is_a_warning_in_the_runs_logs(lake_env, tmp_path):
    good, broken = tmp_path / "good.pdf", tmp_path / "broken.pdf"
    good.write_bytes(make_pdf(sample_pages(1), title="Good"))
    broken.write_bytes(b"%PDF-1.7 this is not really a PDF")
    state = ingest_arxiv([str(good), str(broken)], return_state=True)
    assert state.is_failed()

    ours = [log for log in _logs(state, "tasks.ingest") if log.name == "tasks.ingest"]
    assert len(ours) == 1, ours
    assert ours[0].level == 30 and ours[0].task_run_id is not None  # a WARNING, under the paper's task run
    assert "local-" in ours[0].message and "corrupt" in ours[0].message


def test_a_failed_extraction_is_a_redacted_warning_in_the_runs_logs(lake_env, openai_server, tmp_path, monkeypatch):
    canary = f"sk-canary-{secrets.token_hex(16)}"
    for name, value in {**openai_server.env(canary), "PAPERLAKE_LLM_MODEL": "gpt-4o-mini", "PAPERLAKE_LLM_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(name, value)
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(make_pdf(sample_pages(2), title="Paper"))
    assert ingest_arxiv([str(pdf)], return_state=True).is_completed()
    openai_server.fail_next(500, times=1, echo_authorization=True)  # the body quotes the key, as OpenAI's 401 does

    state = extract_metadata(return_state=True)
    assert state.is_failed()
    logs = _logs(state, "tasks.extract")
    failed = [log for log in logs if log.name == "tasks.extract"]
    assert len(failed) == 1 and failed[0].level == 30, [(log.name, log.message) for log in logs]
    assert "extraction failed" in failed[0].message and "HTTP 500" in failed[0].message
    assert "[redacted]" in failed[0].message
    assert all(canary not in log.message for log in logs)
