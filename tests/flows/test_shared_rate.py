"""One arXiv rate and one LLM rate for every process that shares a Prefect server.

Two `paperlake` processes run at once against one real Prefect server (the session's) and one
stand-in, which holds each process's first request until the other's has arrived too, so the two
runs then compete for the rest; the stand-in's clock shows their requests spaced by the configured
interval between them, not each. The only timed assertions here are these lower bounds, which the feature is about.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from flows.ingest_arxiv import ingest_arxiv
from paperlake.shared_rate import ensure_limit
from tests.pdfs import make_pdf, sample_pages

PAPERLAKE = str(Path(sys.executable).with_name("paperlake"))
TOLERANCE_S = 0.15  # the server grants at intervals; arrival at the stand-in adds scheduling jitter


def _run_together(commands: list[list[str]], envs: list[dict[str, str]]) -> list[subprocess.CompletedProcess[str]]:
    procs = [subprocess.Popen([PAPERLAKE, *cmd], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for cmd, env in zip(commands, envs, strict=True)]  # fmt: skip
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=300)
        finally:
            proc.kill()
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _gaps(times: list[float]) -> list[float]:
    return [round(b - a, 3) for a, b in itertools.pairwise(sorted(times))]


def _decay(name: str) -> float:
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name).slot_decay_per_second


def test_two_runs_space_their_arxiv_requests_between_them(prefect_server, arxiv_server, tmp_path):
    ids = [f"2604.0000{i}" for i in range(1, 7)]
    for paper_id in ids:
        arxiv_server.add_paper(paper_id, make_pdf(sample_pages(1)), title=paper_id, authors=["A"])
    arxiv_server.gather_next("/api/query", parties=2)  # each run's metadata request, then their PDFs compete
    delay = 1.0
    envs = [{"PREFECT_API_URL": prefect_server, "PAPERLAKE_ARXIV_URL": arxiv_server.url, "PAPERLAKE_ARXIV_DELAY": str(delay),
             "PAPERLAKE_HTTP_TIMEOUT": "150", "PAPERLAKE_DATA_DIR": str(tmp_path / name)} for name in ("a", "b")]  # fmt: skip
    results = _run_together([["ingest", *ids[:3]], ["ingest", *ids[3:]]], envs)

    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    times = arxiv_server.times()
    assert len(times) == 2 * (1 + 3)  # per run: one metadata request, three PDFs
    assert min(_gaps(times)) >= delay - TOLERANCE_S, _gaps(times)
    assert _decay("arxiv") == pytest.approx(1 / delay)  # created on first use, from PAPERLAKE_ARXIV_DELAY


def test_two_runs_share_one_llm_rate(prefect_server, lake_env, arxiv_server, openai_server, tmp_path, monkeypatch):
    data_dirs, markers = [tmp_path / "a", tmp_path / "b"], ["Alpha", "Beta"]
    for number, (data_dir, marker) in enumerate(zip(data_dirs, markers, strict=True), 1):
        pages = [page.replace("\n", f"\n{marker} ") for page in sample_pages(4)]  # every passage names its run
        arxiv_server.add_paper(f"2605.0000{number}", make_pdf(pages), title=f"Paper {number}", authors=["A"])
        monkeypatch.setenv("PAPERLAKE_DATA_DIR", str(data_dir))
        assert ingest_arxiv([f"2605.0000{number}"], parent_chunk_size=256, return_state=True).is_completed()
    openai_server.gather_next(markers)  # each run's first call waits for the other's: then they compete
    rpm = 60
    envs = [{"PREFECT_API_URL": prefect_server, "PAPERLAKE_DATA_DIR": str(data_dir), "PAPERLAKE_LLM_MODEL": "gpt-4o-mini",
             "PAPERLAKE_LLM_RPM": str(rpm), "PAPERLAKE_LLM_CONCURRENCY": "1", "PAPERLAKE_LLM_TIMEOUT": "150",
             **openai_server.env()} for data_dir in data_dirs]  # fmt: skip
    results = _run_together([["extract"], ["extract"]], envs)

    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    starts = [r.started for r in openai_server.chat_requests()]
    assert len(starts) >= 4  # at least two parents per paper
    assert min(_gaps(starts)) >= 60 / rpm - TOLERANCE_S, _gaps(starts)
    assert _decay("llm") == pytest.approx(rpm / 60)


def test_creating_the_limit_is_idempotent_and_follows_the_setting(prefect_server):
    ensure_limit("paperlake-test", 2.0)
    ensure_limit("paperlake-test", 2.0)
    assert _decay("paperlake-test") == pytest.approx(0.5)
    ensure_limit("paperlake-test", 4.0)  # PAPERLAKE_ARXIV_DELAY changed: the setting wins
    assert _decay("paperlake-test") == pytest.approx(0.25)
