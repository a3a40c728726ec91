"""An embedding API that refuses the key costs a few requests, not one per paper; the next run retries them.
Real `paperlake` processes, the OpenAI-compatible stand-in, the session's Prefect server."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from paperlake.refusals import REFUSALS_BEFORE_STOP
from storage.lakehouse import connect_read_only as connect
from tests.fakes.openai_server import QUOTA_BODY
from tests.pdfs import make_pdf, sample_pages

PAPERLAKE = str(Path(sys.executable).with_name("paperlake"))
PAPERS = 5  # the breaker stops after 3: at least 2 are never sent


def _ingest(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAPERLAKE, "ingest", str(folder)], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("status", "body", "cause"), [(401, None, "401"), (429, QUOTA_BODY, "insufficient_quota")])
def test_a_refused_embedding_key_costs_a_few_requests_and_the_next_run_retries(
    tmp_path, openai_server, prefect_server, status, body, cause
):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(PAPERS):
        (folder / f"p{i}.pdf").write_bytes(make_pdf(sample_pages(1 + i % 2), title=f"Paper {i}"))
    canary = f"sk-canary-{secrets.token_hex(16)}"
    env = {**os.environ, **openai_server.env(canary), "PAPERLAKE_EMBED_MODEL": "text-embedding-3-small",
           "PAPERLAKE_DATA_DIR": str(tmp_path / "data"), "PREFECT_API_URL": prefect_server}  # fmt: skip
    openai_server.fail_next(status, times=10_000, body=body, endpoint="embeddings", echo_authorization=True)

    first = _ingest(folder, env)
    assert first.returncode == 1, first.stderr
    assert len(openai_server.embedding_requests()) <= REFUSALS_BEFORE_STOP  # embedding calls are one at a time
    with connect(tmp_path / "data") as conn:
        errors = [e for (e,) in conn.sql("SELECT error FROM papers WHERE status = 'failed'").fetchall()]
    assert len(errors) == PAPERS and all(e.startswith("embed_failed") and cause in e for e in errors), errors
    assert canary not in first.stdout + first.stderr + "".join(errors)

    openai_server.clear_rules()
    again = _ingest(folder, env)
    assert again.returncode == 0, again.stderr
    assert f"{PAPERS} papers in the lake" in again.stdout
