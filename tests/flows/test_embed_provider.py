"""End to end: a non-OpenAI embedding model on an OpenAI-compatible server, through the ingest flow.

Assertions stay on the flow's own reports and on what the server received, not on the lake's storage layout.
"""

from __future__ import annotations

from flows.ingest_arxiv import ingest_arxiv
from tests.pdfs import make_pdf, sample_pages


def test_a_local_pdf_lands_with_nomic_embed_text_on_an_openai_compatible_server(lake_env, openai_server, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLAKE_EMBED_MODEL", "nomic-embed-text")
    monkeypatch.setenv("PAPERLAKE_EMBED_PROVIDER", "openai")
    for name, value in openai_server.env(api_key="sk-test-nomic-0000").items():
        monkeypatch.setenv(name, value)
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(make_pdf(sample_pages(3), title="Served By Ollama"))

    state = ingest_arxiv([str(pdf)], return_state=True)

    assert state.is_completed(), state.message
    [report] = state.result()
    assert (report.status, report.reason, report.n_pages, report.title) == ("ok", "", 3, "Served By Ollama")
    assert report.n_nodes > 0 and report.embed_calls >= 1
    requests = openai_server.embedding_requests()
    assert len(requests) == report.embed_calls
    assert {model for model, _ in requests} == {"nomic-embed-text"}
    texts = [text for _, batch in requests for text in batch]
    assert texts and all(text.startswith("search_document: ") for text in texts)  # the document side, prefixed
