"""Everything between paperlake and arXiv's export host: metadata (Atom API) and PDF downloads.

Every request, including each retry and redirect hop, waits its turn on one `RequestSpacer` per
host, shared by all threads of the process, so a run honours arXiv's "one request every few
seconds" whatever the number of workers; with a Prefect server configured it then passes the
global rate limit "arxiv" (`paperlake.shared_rate`), so runs on several workers share that one
rate too. Retries come from `paperlake.retrying` only, never from Prefect. Prefect-free apart from
that limit (imported on first use): the per-paper task in `tasks/ingest.py` wraps it.
"""

from __future__ import annotations

import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import httpx

from paperlake.errors import PaperError, PaperlakeError
from paperlake.files import write_atomically
from paperlake.ids import match_arxiv_id, printable_ref
from paperlake.models import ArxivMetadata
from paperlake.retrying import describe_exception, retrying
from paperlake.settings import Settings
from paperlake.shared_rate import ARXIV, shared_rate
from tasks.arxiv_feed import parse_atom_entries, parse_atom_feed

T = TypeVar("T")
USER_AGENT = "paperlake/0.1 (batch ingest of arXiv PDFs; python-httpx)"
METADATA_BATCH = 100
MAX_REDIRECTS = 3
_CHUNK = 64 * 1024


class RequestSpacer:
    """Start consecutive requests at least `delay_s` apart, across every thread of the process."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self._next_start = 0.0

    def wait(self) -> float:
        """Block until this caller's slot; returns the slot's `time.monotonic()` start."""
        # Reserve a slot under the lock, sleep outside it: waiters queue up in arrival order.
        with self._lock:
            start = max(time.monotonic(), self._next_start)
            self._next_start = start + self.delay_s
        while (left := start - time.monotonic()) > 0:
            time.sleep(left)
        return start


_SPACERS: dict[str, RequestSpacer] = {}
_SPACERS_LOCK = threading.Lock()


def spacer_for(base_url: str, delay_s: float) -> RequestSpacer:
    """The process-wide spacer of a host; the latest `delay_s` asked for applies."""
    with _SPACERS_LOCK:
        spacer = _SPACERS.setdefault(base_url.rstrip("/"), RequestSpacer(delay_s))
        spacer.delay_s = delay_s
        return spacer


class ArxivApiError(PaperlakeError):
    """The metadata API failed for a whole batch; every paper in it fails with `download_failed`."""

    def __init__(self, paper_ids: list[str], detail: str) -> None:
        self.paper_ids = list(paper_ids)
        self.detail = " ".join(detail.split())
        super().__init__(f"arXiv API failed for {len(self.paper_ids)} paper(s): {self.detail}")

    def paper_errors(self) -> list[PaperError]:
        return [PaperError(pid, "download_failed", f"metadata: {self.detail}") for pid in self.paper_ids]


class _GaveUp(Exception):
    """Retries ended (exhausted, Retry-After over the cap, or a non-transient error)."""

    def __init__(self, url: str, last: BaseException, attempts: int) -> None:
        self.last = last
        super().__init__(f"GET {url} failed after {attempts} attempt(s): {describe_exception(last)}")


def _same_host_or_upgrade(origin: httpx.URL, target: httpx.URL) -> bool:
    if target.host.lower() != origin.host.lower():
        return False
    if target.scheme == origin.scheme:
        return target.port == origin.port
    return (origin.scheme, target.scheme) == ("http", "https") and target.port in (None, 443)


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's roots), made once: loading the roots costs 30-40 ms of CPU
    per client, and a run opens a client per paper it downloads."""
    return httpx.create_ssl_context()


class ArxivClient:
    """One `httpx.Client` to arXiv's export host, spaced and retried."""

    def __init__(
        self,
        base_url: str,
        *,
        delay_s: float,
        timeout_s: float,
        max_attempts: int,
        retry_after_cap: float,
        max_pdf_bytes: int,
        user_agent: str = USER_AGENT,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_pdf_bytes = max_pdf_bytes
        self.spacer = spacer_for(self.base_url, delay_s)
        self.shared = shared_rate(ARXIV, delay_s)  # across processes, when a Prefect server is configured
        self._retry_args = (max_attempts, retry_after_cap, backoff_base_s, backoff_max_s)
        self._http = httpx.Client(timeout=timeout_s, follow_redirects=False, headers={"User-Agent": user_agent},
                                  verify=_tls_context())  # fmt: skip

    @classmethod
    def from_settings(cls, settings: Settings) -> ArxivClient:
        return cls(
            settings.arxiv_url,
            delay_s=settings.arxiv_delay,
            timeout_s=settings.http_timeout,
            max_attempts=settings.http_max_attempts,
            retry_after_cap=settings.retry_after_cap,
            max_pdf_bytes=settings.max_pdf_bytes,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ArxivClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _retried(self, url: str, attempt: Callable[[], T]) -> T:
        """`attempt()` under the retry policy; _GaveUp names the last failure. PaperError propagates."""
        policy = retrying(*self._retry_args)
        try:
            return policy(attempt)
        except (httpx.HTTPError, OSError) as exc:
            raise _GaveUp(url, exc, policy.statistics.get("attempt_number", 1)) from exc

    @contextmanager
    def _open(self, paper_id: str, url: str) -> Iterator[httpx.Response]:
        """A streamed GET, spaced, following at most MAX_REDIRECTS same-host redirects."""
        for _hop in range(MAX_REDIRECTS + 1):
            self._wait_turn()
            response = self._http.send(self._http.build_request("GET", url), stream=True)
            if not response.is_redirect:
                break
            response.close()
            target = response.url.join(response.headers["Location"])
            if not _same_host_or_upgrade(response.url, target):
                raise PaperError(paper_id, "download_failed", f"GET {url} redirects to another host: {target}")
            url = str(target)
        else:
            raise PaperError(paper_id, "download_failed", f"GET {url}: more than {MAX_REDIRECTS} redirects")
        try:
            yield response
        finally:
            response.close()

    def _wait_turn(self) -> None:
        # The shared limit first: its first call imports Prefect, and nothing slow may come
        # between the spacer's slot and the request, or requests held up there leave together.
        self.shared.wait()
        self.spacer.wait()

    def _get_bytes(self, url: str, params: dict[str, str]) -> bytes:
        self._wait_turn()
        response = self._http.get(url, params=params)
        response.raise_for_status()
        return response.content

    def fetch_metadata(self, paper_ids: list[str]) -> dict[str, ArxivMetadata]:
        """Metadata of each id arXiv knows, in batches of METADATA_BATCH ids per request."""
        found: dict[str, ArxivMetadata] = {}
        # Anything but an id could corrupt the comma-separated list; it cannot be found anyway.
        unique = [pid for pid in dict.fromkeys(paper_ids) if match_arxiv_id(pid)]
        url = f"{self.base_url}/api/query"
        for start in range(0, len(unique), METADATA_BATCH):
            batch = unique[start : start + METADATA_BATCH]
            params = {"id_list": ",".join(batch), "max_results": str(len(batch))}
            try:
                body = self._retried(url, lambda params=params: self._get_bytes(url, params))
            except _GaveUp as gave_up:
                raise ArxivApiError(batch, str(gave_up)) from gave_up.last
            try:
                found.update(parse_atom_feed(body, batch))
            except ET.ParseError as parse_error:
                raise ArxivApiError(batch, f"GET {url}: unreadable Atom feed ({parse_error})") from None
        return found

    def newest(self, categories: list[str], max_results: int) -> list[ArxivMetadata]:
        """The newest submissions in any of `categories`, newest first: one search request."""
        url = f"{self.base_url}/api/query"
        query = " OR ".join(f"cat:{category}" for category in categories)
        params = {"search_query": query, "sortBy": "submittedDate", "sortOrder": "descending",
                  "start": "0", "max_results": str(max_results)}  # fmt: skip
        try:
            return parse_atom_entries(self._retried(url, lambda: self._get_bytes(url, params)))
        except _GaveUp as gave_up:
            raise PaperlakeError(f"arXiv search {query!r} failed: {gave_up}") from gave_up.last
        except ET.ParseError as parse_error:
            raise PaperlakeError(f"arXiv search {query!r}: unreadable Atom feed ({parse_error})") from None

    def download_pdf(self, paper_id: str, version: str | None, dest: Path) -> tuple[str, int]:
        """Stream `{base}/pdf/{id}{version}` into `dest` atomically; (sha256 hex, size) or PaperError."""
        if not match_arxiv_id(paper_id + (version or "")):  # never build a URL from anything else
            raise PaperError(printable_ref(paper_id + (version or "")), "invalid_id", "not an arXiv id")
        url = f"{self.base_url}/pdf/{paper_id}{version or ''}"
        try:
            return self._retried(url, lambda: self._download_once(paper_id, url, dest))
        except _GaveUp as gave_up:
            # Our own disk trouble (full, read-only) is not arXiv's fault.
            local = isinstance(gave_up.last, OSError)
            raise PaperError(paper_id, "write_failed" if local else "download_failed", str(gave_up)) from gave_up.last

    def _download_once(self, paper_id: str, url: str, dest: Path) -> tuple[str, int]:
        with self._open(paper_id, url) as response:
            if response.status_code == 404:
                raise PaperError(paper_id, "not_found", f"GET {url}: HTTP 404")
            response.raise_for_status()
            declared = response.headers.get("Content-Length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > self.max_pdf_bytes:
                raise PaperError(paper_id, "too_large", f"{int(declared)} bytes, limit {self.max_pdf_bytes}")
            return write_atomically(dest, self._checked_chunks(paper_id, url, response))

    def _checked_chunks(self, paper_id: str, url: str, response: httpx.Response) -> Iterator[bytes]:
        """The body, stopping at once past the size limit or when it does not start like a PDF."""
        total, head = 0, b""
        for chunk in response.iter_bytes(_CHUNK):
            total += len(chunk)
            if total > self.max_pdf_bytes:
                raise PaperError(paper_id, "too_large", f"more than {self.max_pdf_bytes} bytes")
            if len(head) < 5:
                head += chunk[: 5 - len(head)]
                if len(head) == 5 and head != b"%PDF-":
                    raise PaperError(paper_id, "not_pdf", f"GET {url} answered {_content_type(response)}")
            yield chunk
        if head != b"%PDF-":
            raise PaperError(paper_id, "not_pdf", f"GET {url} answered {total} bytes, not a PDF")


def _content_type(response: httpx.Response) -> str:
    return response.headers.get("Content-Type", "no Content-Type").split(";")[0] + ", not a PDF"
