from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

from flows.ingest_arxiv import ingest_arxiv
from storage.lake import Lake
from storage.lakehouse import Lakehouse
from storage.lakehouse import connect_read_only as connect
from storage.search_index import INDEXED_TABLES, index_root, open_current
from tests.helpers import lake_footprint
from tests.pdfs import make_pdf, make_textless_pdf, sample_pages


def _add(server, paper_id: str, pages: int, title: str, version: str = "v1") -> list[str]:
    texts = sample_pages(pages)
    server.add_paper(paper_id, make_pdf(texts), title=title, authors=["A. Author", "B. Author"],
                     abstract=f"Abstract of {title}.", categories=["cs.CL"], published="2023-07-18T00:00:00Z",
                     version=version)  # fmt: skip
    return texts


def _sql(data_dir: Path, query: str) -> list[tuple]:
    with connect(data_dir) as conn:
        return conn.sql(query).fetchall()


def _artifact_keys() -> set[str]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ingest-report", "ingest-progress"])))
    return {a.key for a in found}


def _task_names(flow_run_id) -> list[str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return sorted(run.name.rsplit("-", 1)[0] for run in runs)


def test_good_papers_land_and_bad_ones_are_named(lake_env, arxiv_server):
    _add(arxiv_server, "2307.09288", 5, "Llama 2")
    _add(arxiv_server, "hep-th/9901001", 2, "Old Style")
    arxiv_server.add_paper("2401.00001", b"", title="Served as HTML", authors=[])
    arxiv_server.serve_html_next("/pdf/2401.00001", times=5)
    refs = ["2307.09288", "hep-th/9901001", "../../etc/passwd", "2401.00001", "2402.99999"]
    state = ingest_arxiv(refs, return_state=True)

    assert state.is_failed()
    assert "3 of 5 papers failed" in state.message
    for named in ("../../etc/passwd (invalid_id", "2401.00001 (not_pdf", "2402.99999 (not_found"):
        assert named in state.message
    reports = {r.paper_id: r for r in state.result(raise_on_failure=False)}
    assert reports["2307.09288"].status == "ok" and reports["2307.09288"].n_pages == 5
    rows = _sql(lake_env, "SELECT paper_id, status, split_part(error, ':', 1), n_pages, title, version FROM papers ORDER BY 1")
    assert rows == [
        ("2307.09288", "ok", None, 5, "Llama 2", "v1"),
        ("2401.00001", "failed", "not_pdf", 0, "Served as HTML", None),
        ("2402.99999", "failed", "not_found", 0, None, None),
        ("hep-th/9901001", "ok", None, 2, "Old Style", "v1"),
    ]
    counts = _sql(lake_env, "SELECT n.kind, count(*), count(DISTINCT e.node_id), min(e.dim) FROM nodes n JOIN embeddings e USING (node_id) GROUP BY 1 ORDER BY 1")
    assert [c[0] for c in counts] == ["child", "parent"]
    assert all(c[1] == c[2] and c[3] == 256 for c in counts)
    assert not list(lake_env.rglob("*.tmp")) and not list(lake_env.rglob("*.part"))
    assert {"ingest-report", "ingest-progress"} <= _artifact_keys()
    index = open_current(index_root(lake_env, "wordllama"))  # built at the end of the run, not by the first search
    assert index is not None and index.meta.lake_change == Lakehouse(lake_env, read_only=True).last_change(INDEXED_TABLES)


def test_warm_rerun_downloads_nothing_and_overwrites_nothing(lake_env, arxiv_server):
    _add(arxiv_server, "2307.09288", 8, "Llama 2")  # 8 pages: nodes in Parquet files, past inlining
    assert ingest_arxiv(["2307.09288"], return_state=True).is_completed()
    before = _sql(lake_env, "SELECT node_id FROM nodes ORDER BY 1")
    requests, footprint = len(arxiv_server.requests), lake_footprint(lake_env)
    assert footprint[1]  # real Parquet files, not only rows inlined in the catalog
    fresh = Lake(lake_env)  # a new process's first look: the run left the lake's new state remembered
    assert fresh.current_papers(["2307.09288"])["2307.09288"]["status"] == "ok" and not fresh.house.is_open

    state = ingest_arxiv(["2307.09288"], return_state=True)
    assert state.is_completed()
    assert [r.status for r in state.result()] == ["skipped"]
    assert _task_names(state.state_details.flow_run_id) == ["fetch-arxiv-metadata", "read-stored-papers"]  # no task per skipped paper
    assert [p.split("?")[0] for p in arxiv_server.paths()[requests:]] == ["/api/query"]
    assert lake_footprint(lake_env) == footprint  # no new snapshot, no new file

    forced = ingest_arxiv(["2307.09288"], force=True, return_state=True)
    assert [r.status for r in forced.result()] == ["ok"]
    assert forced.result()[0].embed_calls == 0  # same texts: every vector comes from the cache
    assert _sql(lake_env, "SELECT node_id FROM nodes ORDER BY 1") == before  # overwritten, not duplicated


def test_a_new_version_or_new_chunk_sizes_are_ingested_again(lake_env, arxiv_server):
    _add(arxiv_server, "2307.09288", 3, "Llama 2")
    ingest_arxiv(["2307.09288"])
    _add(arxiv_server, "2307.09288", 4, "Llama 2", version="v2")
    assert ingest_arxiv(["2307.09288"], return_state=True).result()[0].status == "ok"
    assert _sql(lake_env, "SELECT version, n_pages FROM papers") == [("v2", 4)]
    resized = ingest_arxiv(["2307.09288"], child_chunk_sizes=[64], return_state=True)
    assert resized.result()[0].status == "ok"
    sizes = _sql(lake_env, "SELECT DISTINCT chunk_size FROM nodes WHERE kind = 'child'")
    assert sizes == [(64,)]


def test_local_pdfs_and_a_scanned_one_in_the_same_run(lake_env, tmp_path):
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "good.pdf").write_bytes(make_pdf(sample_pages(2), title="A Local Paper"))
    (folder / "untitled.pdf").write_bytes(make_pdf(["Untitled First Line\n" + sample_pages(1)[0]]))
    (folder / "scanned.pdf").write_bytes(make_textless_pdf(3))
    state = ingest_arxiv([str(folder)], return_state=True)
    assert state.is_failed() and "(no_text" in state.message
    rows = _sql(lake_env, "SELECT source, status, title, split_part(error, ':', 1) FROM papers ORDER BY title NULLS LAST")
    assert rows == [
        ("local", "ok", "A Local Paper", None),
        ("local", "ok", "Untitled First Line", None),
        ("local", "failed", None, "no_text"),
    ]
    assert all(pid.startswith("local-") and len(pid) == 18 for (pid,) in _sql(lake_env, "SELECT paper_id FROM papers"))


@pytest.mark.corpus
def test_shared_corpus_lands(lake_env, arxiv_server, corpus_dir):
    if corpus_dir is None:
        pytest.skip("../shared/corpus is absent")
    arxiv_ids = arxiv_server.load_corpus(corpus_dir / "arxiv")
    refs = [*arxiv_ids, str(corpus_dir / "local" / "BlockchainSolana.pdf"),
            str(corpus_dir / "bad" / "scanned_no_text_layer.pdf"), str(corpus_dir / "bad" / "broken_font_excerpt.pdf")]  # fmt: skip
    state = ingest_arxiv(refs, return_state=True)
    assert state.is_failed()
    reports = {r.paper_id: r for r in state.result(raise_on_failure=False)}
    failed = [r for r in reports.values() if r.status == "failed"]
    assert len(failed) == 1 and failed[0].reason.startswith("no_text")
    pages = dict(_sql(lake_env, "SELECT paper_id, n_pages FROM papers WHERE source = 'arxiv'"))
    assert pages == {"1810.04805": 16, "1907.11692": 13, "1910.01108": 5, "2401.02954": 4}
    parents = dict(_sql(lake_env, "SELECT paper_id, count(*) FROM nodes WHERE kind = 'parent' GROUP BY 1"))
    for paper_id, n_pages in pages.items():
        assert n_pages // 2 <= parents[paper_id] <= n_pages * 3, (paper_id, parents[paper_id])
    titles = dict(_sql(lake_env, "SELECT title, n_pages FROM papers WHERE source = 'local' AND status = 'ok'"))
    assert any("Solana" in t or "Bitcoin" in t for t in titles), titles
    assert _sql(lake_env, "SELECT count(*) FROM nodes WHERE contains(text, chr(0))") == [(0,)]
    assert _sql(lake_env, "SELECT count(*) FROM papers WHERE contains(coalesce(title, ''), chr(0))") == [(0,)]


def test_openai_embeddings_when_configured_and_cached_across_runs(lake_env, openai_server, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLAKE_EMBED_MODEL", "text-embedding-3-small")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-embeddings-0000")
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(make_pdf(sample_pages(4), title="Embedded Remotely"))
    assert ingest_arxiv([str(pdf)], return_state=True).is_completed()
    assert _sql(lake_env, "SELECT DISTINCT model, dim FROM embeddings") == [("text-embedding-3-small", 64)]
    calls = openai_server.calls["embeddings"]
    assert calls >= 1
    forced = ingest_arxiv([str(pdf)], force=True, return_state=True)
    assert forced.result()[0].status == "ok"
    assert openai_server.calls["embeddings"] == calls  # every vector came from the cache


def test_an_embedding_api_error_that_echoes_the_key_leaks_it_nowhere(lake_env, openai_server, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    canary = f"sk-canary-{secrets.token_hex(16)}"
    monkeypatch.setenv("PAPERLAKE_EMBED_MODEL", "text-embedding-3-small")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    openai_server.fail_next(401, times=5, endpoint="embeddings", echo_authorization=True)
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(make_pdf(sample_pages(2), title="Leaky"))
    state = ingest_arxiv([str(pdf)], return_state=True)
    assert state.is_failed() and "embed_failed" in state.message
    assert canary in str(openai_server.requests[0].headers)  # the key was really sent, and echoed
    report = state.result(raise_on_failure=False)[0]
    assert canary not in f"{state.message} {report}"
    assert canary not in caplog.text
    for path in lake_env.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    with get_client(sync_client=True) as client:
        for artifact in client.read_artifacts():
            assert canary not in f"{artifact.data} {artifact.description}"
