from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import httpx
import pytest

from paperlake.errors import PaperError, PaperlakeError
from tasks.arxiv_feed import parse_atom_feed
from tasks.fetch import (
    ArxivApiError,
    ArxivClient,
    RequestSpacer,
    spacer_for,
)
from tests.fakes.arxiv_server import ArxivStandIn

PDF_V1 = b"%PDF-1.4\n" + b"version one " * 50 + b"\n%%EOF\n"
PDF_V2 = b"%PDF-1.7\n" + b"version two " * 50 + b"\n%%EOF\n"
OTHER = b"%PDF-1.5\n" + b"other paper " * 50 + b"\n%%EOF\n"


def client_for(server: ArxivStandIn, **overrides: object) -> ArxivClient:
    options: dict[str, object] = dict(
        delay_s=0.0, timeout_s=2.0, max_attempts=3, retry_after_cap=5.0,
        max_pdf_bytes=1_000_000, backoff_base_s=0.01, backoff_max_s=0.05,
    )
    options.update(overrides)
    return ArxivClient(server.url, **options)  # type: ignore[arg-type]


@pytest.fixture
def server(arxiv_server: ArxivStandIn) -> ArxivStandIn:
    arxiv_server.add_paper("2307.09288", PDF_V1, title="Llama 2", authors=["Hugo Touvron"],
                           published="2023-07-18T14:31:57Z", version="v1")
    arxiv_server.add_paper("2307.09288", PDF_V2, title="Llama 2:\n   Open Foundation  and Fine-Tuned Chat Models",
                           authors=["Hugo Touvron", "Louis Martin"], abstract="We develop\n  and release Llama 2.",
                           categories=["cs.CL", "cs.AI"], published="2023-07-18T14:31:57Z", version="v2",
                           updated="2023-07-19T17:08:59Z")
    arxiv_server.add_paper("hep-th/9901001", OTHER, title="An old paper", authors=["A. Physicist"],
                           categories=["hep-th"], published="1999-01-04T00:00:00Z")
    return arxiv_server


def no_leftovers(folder: Path) -> bool:
    return not folder.exists() or list(folder.iterdir()) == []


# --- metadata ------------------------------------------------------------------------------------


def test_newest_submissions_in_categories(server: ArxivStandIn) -> None:
    server.add_paper("2401.00002", OTHER, title="Retrieval", authors=["R"], categories=["cs.IR"], published="2024-01-02T00:00:00Z")
    server.add_paper("2401.00003", OTHER, title="Newest CL", authors=["N"], categories=["cs.LG", "cs.CL"],
                     published="2024-01-03T00:00:00Z")  # fmt: skip
    with client_for(server) as client:
        newest = client.newest(["cs.CL", "cs.IR"], 2)
        only_cl = client.newest(["cs.CL"], 10)
    assert [(m.paper_id, m.title) for m in newest] == [("2401.00003", "Newest CL"), ("2401.00002", "Retrieval")]
    assert [(m.paper_id, m.version) for m in only_cl] == [("2401.00003", "v1"), ("2307.09288", "v2")]
    query = server.paths("/api/query")[0]
    assert "search_query=cat%3Acs.CL+OR+cat%3Acs.IR" in query and "sortBy=submittedDate" in query
    assert "sortOrder=descending" in query and "max_results=2" in query


def test_newest_names_the_search_when_arxiv_fails(server: ArxivStandIn) -> None:
    server.fail_next("/api/query", status=503, times=3)
    with client_for(server) as client, pytest.raises(PaperlakeError, match="arXiv search 'cat:cs.CL' failed.*503"):
        client.newest(["cs.CL"], 5)


def test_metadata_of_several_ids_in_one_request(server: ArxivStandIn) -> None:
    with client_for(server) as client:
        found = client.fetch_metadata(["2307.09288", "hep-th/9901001", "2401.99999", "2307.09288"])
    assert len(server.paths("/api/query")) == 1
    assert set(found) == {"2307.09288", "hep-th/9901001"}  # the unknown id is simply absent
    llama = found["2307.09288"]
    assert llama.version == "v2"
    assert llama.title == "Llama 2: Open Foundation and Fine-Tuned Chat Models"
    assert llama.authors == ["Hugo Touvron", "Louis Martin"]
    assert llama.abstract == "We develop and release Llama 2."
    assert llama.categories == ["cs.CL", "cs.AI"]
    assert llama.published is not None and llama.published.isoformat() == "2023-07-18T14:31:57+00:00"
    assert llama.updated is not None and llama.updated.day == 19
    assert found["hep-th/9901001"].version == "v1"


def test_metadata_batches_of_one_hundred(server: ArxivStandIn) -> None:
    ids = [f"2401.{n:05d}" for n in range(150)] + ["2307.09288"]
    with client_for(server) as client:
        found = client.fetch_metadata(ids)
    assert len(server.paths("/api/query")) == 2
    assert list(found) == ["2307.09288"]


def test_metadata_skips_error_entries(server: ArxivStandIn) -> None:
    feed = httpx.get(f"{server.url}/api/query", params={"id_list": "2307.09288,not-an-id!"}).content
    assert b"<title>Error</title>" in feed
    assert list(parse_atom_feed(feed, ["2307.09288", "not-an-id!"])) == ["2307.09288"]


def test_invalid_ids_never_reach_the_server(server: ArxivStandIn, tmp_path: Path) -> None:
    with client_for(server) as client:
        assert client.fetch_metadata(["../x", "a,b", "2401.12345\n"]) == {}
        with pytest.raises(PaperError) as caught:
            client.download_pdf("../../etc/passwd", None, tmp_path / "x.pdf")
    assert caught.value.reason == "invalid_id" and server.requests == []


def test_feed_maps_answers_back_to_the_spelling_asked_for() -> None:
    feed = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">
      <entry><id>http://arxiv.org/abs/math/0309136v1</id><title>Knots</title>
        <published>2003-09-08T00:00:00Z</published><author><name>W. Thurston</name></author>
        <category term="math.GT"/><category term="math.GT"/></entry>
      <entry><id>http://arxiv.org/api/errors#incorrect_id_format_for_x</id><title>Error</title></entry>
    </feed>"""
    found = parse_atom_feed(feed, ["math.GT/0309136"])
    assert found["math.GT/0309136"].paper_id == "math.GT/0309136"
    assert found["math.GT/0309136"].categories == ["math.GT"]
    assert found["math.GT/0309136"].updated is None


def test_metadata_503_then_success(server: ArxivStandIn) -> None:
    server.fail_next("/api/query", status=503)
    with client_for(server) as client:
        assert "2307.09288" in client.fetch_metadata(["2307.09288"])
    assert len(server.paths("/api/query")) == 2


def test_metadata_failure_fails_the_whole_batch(server: ArxivStandIn) -> None:
    server.fail_next("/api/query", status=500, times=3)
    with client_for(server) as client, pytest.raises(ArxivApiError) as caught:
        client.fetch_metadata(["2307.09288", "hep-th/9901001"])
    errors = caught.value.paper_errors()
    assert [(e.paper_id, e.reason) for e in errors] == [("2307.09288", "download_failed"),
                                                        ("hep-th/9901001", "download_failed")]
    assert "HTTP 500" in errors[0].detail and "/api/query" in errors[0].detail


# --- downloads -----------------------------------------------------------------------------------


def test_download_latest_and_pinned_versions(server: ArxivStandIn, tmp_path: Path) -> None:
    with client_for(server) as client:
        latest = client.download_pdf("2307.09288", None, tmp_path / "latest.pdf")
        pinned = client.download_pdf("2307.09288", "v1", tmp_path / "v1.pdf")
        old = client.download_pdf("hep-th/9901001", "v1", tmp_path / "hep-th_9901001.pdf")
    assert latest == (hashlib.sha256(PDF_V2).hexdigest(), len(PDF_V2))
    assert pinned == (hashlib.sha256(PDF_V1).hexdigest(), len(PDF_V1))
    assert (tmp_path / "v1.pdf").read_bytes() == PDF_V1 and old[1] == len(OTHER)
    assert server.paths("/pdf/") == ["/pdf/2307.09288", "/pdf/2307.09288v1", "/pdf/hep-th/9901001v1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hep-th_9901001.pdf", "latest.pdf", "v1.pdf"]


@pytest.mark.parametrize(("paper_id", "version"), [("2401.99999", None), ("2307.09288", "v3")])
def test_unknown_paper_or_version_is_not_found(server: ArxivStandIn, tmp_path: Path,
                                               paper_id: str, version: str | None) -> None:
    with client_for(server) as client, pytest.raises(PaperError) as caught:
        client.download_pdf(paper_id, version, tmp_path / "out" / "x.pdf")
    assert caught.value.reason == "not_found" and caught.value.paper_id == paper_id
    assert len(server.paths("/pdf/")) == 1  # a 404 is not retried
    assert no_leftovers(tmp_path / "out")


def test_html_instead_of_pdf(server: ArxivStandIn, tmp_path: Path) -> None:
    server.serve_html_next("/pdf/2307.09288")
    with client_for(server) as client, pytest.raises(PaperError) as caught:
        client.download_pdf("2307.09288", None, tmp_path / "x.pdf")
    assert caught.value.reason == "not_pdf" and "text/html" in caught.value.detail
    assert no_leftovers(tmp_path)


def test_too_large_by_content_length(server: ArxivStandIn, tmp_path: Path) -> None:
    with client_for(server, max_pdf_bytes=100) as client, pytest.raises(PaperError) as caught:
        client.download_pdf("2307.09288", None, tmp_path / "x.pdf")
    assert caught.value.reason == "too_large" and f"{len(PDF_V2)} bytes" in caught.value.detail
    assert no_leftovers(tmp_path)


def test_too_large_while_streaming(server: ArxivStandIn, tmp_path: Path) -> None:
    big = b"%PDF-1.4\n" + bytes(300_000)
    server.add_paper("2402.00001", big, title="Big", authors=[])
    server.chunked_next("/pdf/2402.00001")  # no Content-Length: only reading tells
    with client_for(server, max_pdf_bytes=100_000) as client, pytest.raises(PaperError) as caught:
        client.download_pdf("2402.00001", None, tmp_path / "x.pdf")
    assert caught.value.reason == "too_large" and "more than 100000" in caught.value.detail
    assert no_leftovers(tmp_path)


def test_chunked_body_within_limit_is_fine(server: ArxivStandIn, tmp_path: Path) -> None:
    server.chunked_next("/pdf/2307.09288")
    with client_for(server) as client:
        assert client.download_pdf("2307.09288", None, tmp_path / "x.pdf")[1] == len(PDF_V2)


def test_429_retry_after_is_honoured(server: ArxivStandIn, tmp_path: Path) -> None:
    server.fail_next("/pdf/2307.09288", status=429, headers={"Retry-After": "1"})
    with client_for(server) as client:
        client.download_pdf("2307.09288", None, tmp_path / "x.pdf")
    first, second = server.times("/pdf/")
    assert second - first >= 0.95
    assert (tmp_path / "x.pdf").read_bytes() == PDF_V2


def test_retry_after_above_cap_fails_fast(server: ArxivStandIn, tmp_path: Path) -> None:
    server.fail_next("/pdf/2307.09288", status=429, headers={"Retry-After": "3600"})
    started = time.monotonic()
    with client_for(server) as client, pytest.raises(PaperError) as caught:
        client.download_pdf("2307.09288", None, tmp_path / "x.pdf")
    assert time.monotonic() - started < 1.0
    assert caught.value.reason == "download_failed" and "Retry-After 3600" in caught.value.detail
    assert len(server.paths("/pdf/")) == 1 and no_leftovers(tmp_path)


def test_503_then_success(server: ArxivStandIn, tmp_path: Path) -> None:
    server.fail_next("/pdf/2307.09288", status=503, times=2)
    with client_for(server) as client:
        assert client.download_pdf("2307.09288", None, tmp_path / "x.pdf")[1] == len(PDF_V2)
    assert len(server.paths("/pdf/")) == 3


def test_retries_exhausted(server: ArxivStandIn, tmp_path: Path) -> None:
    server.fail_next("/pdf/2307.09288", status=503, times=5)
    with client_for(server) as client, pytest.raises(PaperError) as caught:
        client.download_pdf("2307.09288", None, tmp_path / "x.pdf")
    assert caught.value.reason == "download_failed"
    assert "after 3 attempt(s): HTTP 503" in caught.value.detail and "/pdf/2307.09288" in caught.value.detail
    assert len(server.paths("/pdf/")) == 3 and no_leftovers(tmp_path)


def test_permanent_http_error_is_not_retried(server: ArxivStandIn, tmp_path: Path) -> None:
    server.fail_next("/pdf/2307.09288", status=403)
    with client_for(server) as client, pytest.raises(PaperError) as caught:
        client.download_pdf("2307.09288", None, tmp_path / "x.pdf")
    assert caught.value.reason == "download_failed" and "HTTP 403" in caught.value.detail
    assert len(server.paths("/pdf/")) == 1


def test_read_timeout_is_retried_then_fails(server: ArxivStandIn, tmp_path: Path) -> None:
    server.stall_next("/pdf/2307.09288", seconds=5, times=2)
    with client_for(server, timeout_s=0.2, max_attempts=2) as client, pytest.raises(PaperError) as caught:
        client.download_pdf("2307.09288", None, tmp_path / "x.pdf")
    assert caught.value.reason == "download_failed" and "ReadTimeout" in caught.value.detail
    assert len(server.paths("/pdf/")) == 2 and no_leftovers(tmp_path)


def test_stall_once_then_success(server: ArxivStandIn, tmp_path: Path) -> None:
    server.stall_next("/pdf/2307.09288", seconds=5)
    with client_for(server, timeout_s=0.2) as client:
        assert client.download_pdf("2307.09288", None, tmp_path / "x.pdf")[1] == len(PDF_V2)


def test_body_cut_mid_stream_is_retried_and_leaves_nothing(server: ArxivStandIn, tmp_path: Path) -> None:
    server.cut_next("/pdf/2307.09288", after_bytes=40, times=3)
    with client_for(server) as client, pytest.raises(PaperError) as caught:
        client.download_pdf("2307.09288", None, tmp_path / "x.pdf")
    assert caught.value.reason == "download_failed" and "RemoteProtocolError" in caught.value.detail
    assert no_leftovers(tmp_path)
    server.cut_next("/pdf/2307.09288", after_bytes=40)
    with client_for(server) as client:
        assert client.download_pdf("2307.09288", None, tmp_path / "x.pdf")[1] == len(PDF_V2)
    assert [p.name for p in tmp_path.iterdir()] == ["x.pdf"]


def test_redirect_to_another_host_is_refused(server: ArxivStandIn, tmp_path: Path) -> None:
    server.redirect_next("/pdf/2307.09288", "http://elsewhere.invalid/pdf/2307.09288")
    with client_for(server) as client, pytest.raises(PaperError) as caught:
        client.download_pdf("2307.09288", None, tmp_path / "x.pdf")
    assert caught.value.reason == "download_failed" and "another host" in caught.value.detail
    assert len(server.paths("/pdf/")) == 1 and no_leftovers(tmp_path)


def test_same_host_redirects_are_followed_up_to_three(server: ArxivStandIn, tmp_path: Path) -> None:
    server.redirect_next("/pdf/2307.09288", "/pdf/2307.09288v1", status=301)
    with client_for(server) as client:
        assert client.download_pdf("2307.09288", None, tmp_path / "x.pdf")[1] == len(PDF_V1)
    server.redirect_next("/pdf/hep-th", "/pdf/hep-th/9901001", times=10)
    with client_for(server) as client, pytest.raises(PaperError) as caught:
        client.download_pdf("hep-th/9901001", None, tmp_path / "y.pdf")
    assert "more than 3 redirects" in caught.value.detail
    assert len(server.paths("/pdf/hep-th")) == 4 and not (tmp_path / "y.pdf").exists()


# --- spacing -------------------------------------------------------------------------------------


def test_requests_are_spaced_across_threads_and_clients(server: ArxivStandIn, tmp_path: Path) -> None:
    delay = 0.2
    server.fail_next("/pdf/hep-th", status=503)  # a retry is spaced too

    jobs = [("2307.09288", "a.pdf"), ("hep-th/9901001", "b.pdf"), ("2307.09288", "c.pdf")]
    clients = [client_for(server, delay_s=delay) for _ in jobs]  # one client per thread, one shared spacer

    def download(client: ArxivClient, paper_id: str, name: str) -> None:
        with client:
            client.download_pdf(paper_id, None, tmp_path / name)

    threads = [threading.Thread(target=download, args=(client, *job)) for client, job in zip(clients, jobs, strict=True)]
    began = time.monotonic()  # after the clients' setup; the stand-in clocks arrivals with the same clock
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = sorted(server.times("/pdf/"))
    assert len(times) == 4 and len(list(tmp_path.iterdir())) == 3
    # The k-th request cannot arrive before k x delay into the run. A lower bound from a fixed origin: a busy
    # machine only delays requests, so it cannot fail it (gaps between arrivals did: a late one shrinks the next gap).
    assert all(at - began >= k * delay for k, at in enumerate(times)), [at - began for at in times]


def test_spacer_is_shared_per_host() -> None:
    assert spacer_for("http://127.0.0.1:1/", 0.0) is spacer_for("http://127.0.0.1:1", 0.0)
    assert spacer_for("http://127.0.0.1:1", 0.0) is not spacer_for("http://127.0.0.1:2", 0.0)


def test_spacer_alone() -> None:
    spacer = RequestSpacer(0.05)
    slots: list[float] = []
    for _ in range(3):
        slots.append(spacer.wait())
        assert time.monotonic() >= slots[-1]
    assert slots[1] - slots[0] >= 0.05 - 1e-9 and slots[2] - slots[1] >= 0.05 - 1e-9  # float rounding


# --- the real corpus -------------------------------------------------------------------


@pytest.mark.corpus
def test_corpus_papers_served_like_arxiv(arxiv_server: ArxivStandIn, corpus_dir: Path | None,
                                         tmp_path: Path) -> None:
    if corpus_dir is None:
        pytest.skip("../shared/corpus is absent")
    assert "1810.04805" in arxiv_server.load_corpus(corpus_dir / "arxiv")
    with client_for(arxiv_server, max_pdf_bytes=50 * 1024 * 1024) as client:
        meta = client.fetch_metadata(["1810.04805", "1910.01108"])
        sha, size = client.download_pdf("1810.04805", None, tmp_path / "1810.04805.pdf")
    assert meta["1810.04805"].title.startswith("BERT")
    assert meta["1910.01108"].authors[0] == "Victor Sanh"
    original = (corpus_dir / "arxiv" / "1810.04805.pdf").read_bytes()
    assert (sha, size) == (hashlib.sha256(original).hexdigest(), len(original))
