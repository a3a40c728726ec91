"""A stand-in of arXiv's export host over real HTTP on 127.0.0.1, with fault injection.

Serves `GET /pdf/<id>[vN]`, `GET /api/query?id_list=...` (an Atom feed shaped like arXiv's: an
"Error" entry for malformed ids, nothing for unknown ones) and `GET /api/query?search_query=cat:A OR
cat:B&sortBy=submittedDate&sortOrder=descending&max_results=N` (papers in any of the categories,
by first-version date). Used by tests (fixtures at the
bottom) and by the benchmark: importing it starts nothing.

Faults are queued per path prefix (matched against the raw path, query included) and each is
used `times` times, first queued first used:
    server.fail_next("/pdf/2307.09288", status=429, headers={"Retry-After": "1"}, times=2)
    server.serve_html_next("/pdf/"), server.stall_next("/api/query", seconds=2)
    server.cut_next("/pdf/x", after_bytes=100), server.chunked_next("/pdf/x")
    server.redirect_next("/pdf/x", "http://elsewhere.invalid/pdf/x")
    server.gather_next("/api/query", parties=2)  # hold the next two until both arrived (concurrency tests)
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

try:  # the benchmark imports this module without pytest
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]

# Deliberately looser than paperlake.ids: the stand-in must not share the code it tests.
_ID_SHAPE = re.compile(r"([0-9]{4}\.[0-9]{4,5}|[a-z\-]+(\.[A-Za-z\-]+)?/[0-9]{7})(v[0-9]+)?")
_CATEGORY = re.compile(r"cat:([A-Za-z\-]+(?:\.[A-Za-z\-]+)?)")
_HTML = b"<!DOCTYPE html><html><head><title>arXiv</title></head><body>Please verify you are human.</body></html>"


@dataclass
class _Paper:
    title: str
    authors: list[str]
    abstract: str
    categories: list[str]
    published: str
    updated: str
    versions: dict[str, bytes] = field(default_factory=dict)

    @property
    def latest(self) -> str:
        return max(self.versions, key=lambda v: int(v[1:]))


@dataclass
class _Fault:
    prefix: str
    times: int
    status: int | None = None  # None: answer normally after the other effects
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stall_s: float = 0.0
    cut_after: int | None = None
    chunked: bool = False
    barrier: threading.Barrier | None = None


def _iso(value: str | datetime | None) -> str:
    if value is None:
        return "2020-01-01T00:00:00Z"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


class ArxivStandIn:
    def __init__(self, host: str = "127.0.0.1", latency_s: float = 0.0) -> None:
        """Starts serving at once; `latency_s` delays every answer (the benchmark's "network")."""
        self.latency_s = latency_s
        self.papers: dict[str, _Paper] = {}
        self.requests: list[tuple[str, str, float]] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server((host, 0), _Handler)
        self._server.stand_in = self  # type: ignore[attr-defined]
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="arxiv-stand-in", daemon=True
        )
        self._thread.start()

    def add_paper(
        self,
        paper_id: str,
        pdf: bytes,
        *,
        title: str,
        authors: list[str],
        abstract: str = "",
        categories: list[str] | None = None,
        published: str | datetime | None = None,
        version: str = "v1",
        updated: str | datetime | None = None,
    ) -> None:
        """Add a paper, or another version of one (metadata then follows the latest call)."""
        with self._lock:
            old = self.papers.get(paper_id)
            paper = _Paper(title, list(authors), abstract, list(categories or ["cs.CL"]), _iso(published),
                           _iso(updated or published), dict(old.versions) if old else {})
            paper.versions[version] = pdf
            self.papers[paper_id] = paper

    def load_corpus(self, folder: Path) -> list[str]:
        """Serve every `<id>.pdf` of the corpus's `arxiv` folder (or the corpus root) with meta.json."""
        folder = folder / "arxiv" if (folder / "arxiv").is_dir() else folder
        meta_file = folder / "meta.json"
        meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
        loaded = []
        for pdf in sorted(folder.glob("*.pdf")):
            info = meta.get(pdf.stem, {})
            self.add_paper(pdf.stem, pdf.read_bytes(), title=info.get("title", pdf.stem),
                           authors=info.get("authors", []), abstract=info.get("summary", ""),
                           categories=info.get("categories"), published=info.get("published"))
            loaded.append(pdf.stem)
        return loaded

    def respond_next(self, prefix: str, *, times: int = 1, status: int | None = None,
                     headers: dict[str, str] | None = None, body: bytes = b"", stall_s: float = 0.0,
                     cut_after: int | None = None, chunked: bool = False) -> None:
        with self._lock:
            self._faults.append(_Fault(prefix, times, status, dict(headers or {}), body, stall_s, cut_after, chunked))

    def fail_next(self, prefix: str, status: int = 503, headers: dict[str, str] | None = None,
                  body: bytes = b"", times: int = 1) -> None:
        self.respond_next(prefix, times=times, status=status, headers=headers, body=body)

    def serve_html_next(self, prefix: str, times: int = 1) -> None:
        self.respond_next(prefix, times=times, status=200, headers={"Content-Type": "text/html"}, body=_HTML)

    def stall_next(self, prefix: str, seconds: float, times: int = 1) -> None:
        self.respond_next(prefix, times=times, stall_s=seconds)

    def cut_next(self, prefix: str, after_bytes: int, times: int = 1) -> None:
        """Announce the full Content-Length, send `after_bytes`, then drop the connection."""
        self.respond_next(prefix, times=times, cut_after=after_bytes)

    def chunked_next(self, prefix: str, times: int = 1) -> None:
        """Send the body chunked, without Content-Length (size known only by reading)."""
        self.respond_next(prefix, times=times, chunked=True)

    def redirect_next(self, prefix: str, location: str, status: int = 302, times: int = 1) -> None:
        self.respond_next(prefix, times=times, status=status, headers={"Location": location})

    def gather_next(self, prefix: str, parties: int, timeout_s: float = 120.0) -> None:
        """Hold the next `parties` matching requests until all have arrived (each is logged on arrival)."""
        with self._lock:
            self._faults.append(_Fault(prefix, parties, barrier=threading.Barrier(parties, timeout=timeout_s)))

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.prefix):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _log(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path, time.monotonic()))

    def paths(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [path for _, path, _ in self.requests if path.startswith(prefix)]

    def times(self, prefix: str = "") -> list[float]:
        with self._lock:
            return [at for _, path, at in self.requests if path.startswith(prefix)]

    def close(self) -> None:
        self._closing.set()  # wakes stalled handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ArxivStandIn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _pdf(self, rest: str) -> tuple[int, dict[str, str], bytes]:
        match = _ID_SHAPE.fullmatch(rest.removesuffix(".pdf"))
        with self._lock:
            paper = self.papers.get(match.group(1)) if match else None
            if paper is None or match is None:
                return 404, {"Content-Type": "text/html"}, b"<html><body>Paper not found</body></html>"
            pdf = paper.versions.get(match.group(3) or paper.latest)
        if pdf is None:
            return 404, {"Content-Type": "text/html"}, b"<html><body>No such version</body></html>"
        return 200, {"Content-Type": "application/pdf"}, pdf

    def _feed(self, query: str) -> tuple[int, dict[str, str], bytes]:
        params = parse_qs(query)
        if "search_query" in params:
            return self._search(query, params)
        ids = [i for i in ",".join(params.get("id_list", [""])).split(",") if i]
        limit = int(params.get("max_results", ["10"])[0])
        entries: list[str] = []
        for requested in ids:
            match = _ID_SHAPE.fullmatch(requested)
            if match is None:
                entries.append(_error_entry(requested))
                continue
            with self._lock:
                paper = self.papers.get(match.group(1))
            version = match.group(3) or (paper.latest if paper else None)
            if paper is not None and version in paper.versions:
                entries.append(_entry(match.group(1), version, paper))
        body = _feed_xml(query, entries[:limit], len(entries))
        return 200, {"Content-Type": "application/atom+xml; charset=utf-8"}, body


    def _search(self, query: str, params: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        """Only `cat:` terms (OR-joined) and sorting by submission date, as paperlake asks."""
        wanted = set(_CATEGORY.findall(params["search_query"][0]))
        start, limit = int(params.get("start", ["0"])[0]), int(params.get("max_results", ["10"])[0])
        with self._lock:
            found = [(pid, p) for pid, p in self.papers.items() if wanted & set(p.categories)]
        if params.get("sortBy", [""])[0] == "submittedDate":
            found.sort(key=lambda item: item[1].published, reverse=params.get("sortOrder", ["descending"])[0] == "descending")
        entries = [_entry(pid, paper.latest, paper) for pid, paper in found[start : start + limit]]
        body = _feed_xml(query, entries, len(found))
        return 200, {"Content-Type": "application/atom+xml; charset=utf-8"}, body


def _entry(paper_id: str, version: str, paper: _Paper) -> str:
    abs_url = f"http://arxiv.org/abs/{paper_id}{version}"
    authors = "".join(f"\n    <author>\n      <name>{escape(a)}</name>\n    </author>" for a in paper.authors)
    categories = "".join(
        f'\n    <category term={quoteattr(c)} scheme="http://arxiv.org/schemas/atom"/>' for c in paper.categories
    )
    return f"""  <entry>
    <id>{abs_url}</id>
    <updated>{paper.updated}</updated>
    <published>{paper.published}</published>
    <title>{escape(paper.title)}</title>
    <summary>  {escape(paper.abstract)}\n</summary>{authors}
    <link href="{abs_url}" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{paper_id}{version}" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term={quoteattr(paper.categories[0])} scheme="http://arxiv.org/schemas/atom"/>{categories}
  </entry>
"""


def _error_entry(bad_id: str) -> str:
    anchor = escape(f"http://arxiv.org/api/errors#incorrect_id_format_for_{bad_id}")
    return f"""  <entry>
    <id>{anchor}</id>
    <title>Error</title>
    <summary>incorrect id format for {escape(bad_id)}</summary>
    <updated>2024-01-01T00:00:00-05:00</updated>
    <link href="{anchor}" rel="alternate" type="text/html"/>
    <author>
      <name>arXiv api core</name>
    </author>
  </entry>
"""


def _feed_xml(query: str, entries: list[str], total: int) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?{escape(query)}" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: {escape(query)}</title>
  <id>http://arxiv.org/api/stand-in</id>
  <updated>2024-01-01T00:00:00-05:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{total}</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{len(entries)}</opensearch:itemsPerPage>
{"".join(entries)}</feed>
""".encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stalled or kept-alive handler never blocks close()

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # clients hanging up mid-answer is what timeout tests do
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "arxiv-stand-in"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass  # the request log lives in ArxivStandIn.requests

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        stand_in: ArxivStandIn = self.server.stand_in  # type: ignore[attr-defined]
        stand_in._log("GET", self.path)
        fault = stand_in._take_fault(self.path)
        if fault and fault.barrier:
            try:
                fault.barrier.wait()
            except threading.BrokenBarrierError:
                pass  # timed out: answer anyway
        stall_s = stand_in.latency_s + (fault.stall_s if fault else 0.0)
        if stall_s and stand_in._closing.wait(stall_s):
            return
        if fault and fault.status is not None:
            status, headers, body = fault.status, {"Content-Type": "text/plain", **fault.headers}, fault.body
        else:
            status, headers, body = self._answer(stand_in)
        try:
            self._send(status, headers, body, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests): nothing to do

    def _answer(self, stand_in: ArxivStandIn) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(self.path)
        if parts.path.startswith("/pdf/"):
            return stand_in._pdf(parts.path.removeprefix("/pdf/"))
        if parts.path == "/api/query":
            return stand_in._feed(parts.query)
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def _send(self, status: int, headers: dict[str, str], body: bytes, fault: _Fault | None) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if fault and fault.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 16 * 1024):
                chunk = body[start : start + 16 * 1024]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        if fault and fault.cut_after is not None:
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: fault.cut_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.end_headers()
        self.wfile.write(body)


if pytest is not None:

    @pytest.fixture
    def arxiv_server() -> Iterator[ArxivStandIn]:
        """A started stand-in of arXiv's export host, closed after the test."""
        with ArxivStandIn() as server:
            yield server

    @pytest.fixture
    def corpus_dir() -> Path | None:
        """`../shared/corpus` beside the checkout (tests/fakes -> tests -> checkout -> its parent), or None."""
        path = Path(__file__).resolve().parents[3] / "shared" / "corpus"
        return path if path.is_dir() else None
