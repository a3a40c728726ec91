"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

`POST /v1/chat/completions` answers with JSON holding a summary and five questions derived
deterministically from the passage; `POST /v1/embeddings` with deterministic unit vectors (base64
or float lists, as the client asks). Latency, injected failures, stalls, truncated replies and
scripted replies are settable; counters record calls, peak requests in flight and every request.
Importing this module starts nothing: `FakeOpenAI().start()` or the `openai_server` fixture does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

INJECTION_TRIGGER = "ignore previous instructions"
# OpenAI's answer (with HTTP 429) when the account's credit is spent: no retry helps.
QUOTA_BODY = json.dumps({"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                                   "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}})  # fmt: skip
_PASSAGE = re.compile(r"<passage>\n?(.*?)\n?</passage>", re.DOTALL)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]{3,}")


@dataclass
class Rule:
    """What to do to the next `times` requests of `endpoint` whose text contains `match`."""

    kind: str  # "fail" | "stall" | "reply" | "gather"
    times: int
    endpoint: str = "chat"
    match: str | None = None
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    echo_authorization: bool = False
    seconds: float = 0.0
    content: str | None = None
    finish_reason: str = "stop"
    anywhere: bool = False  # match in the whole user text, not only the delimited passage
    barrier: threading.Barrier | None = None


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    started: float
    status: int = 0


def user_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user")


def passage_of(body: dict[str, Any]) -> str:
    """The delimited passage of a chat request (else all of its user text)."""
    user = user_text(body)
    found = _PASSAGE.search(user)
    return found.group(1) if found else user


def default_extraction(passage: str) -> dict[str, Any]:
    """A well-formed answer that depends only on the passage."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(passage)))[:5]
    words += [f"topic-{i}" for i in range(len(words), 5)]
    flat = " ".join(passage.split())
    return {
        "summary": f"The section covers: {flat[:200]}",
        "questions": [f"What does the passage say about {word}?" for word in words],
    }


def embedding_for(text: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


class FakeOpenAI:
    def __init__(self, latency: float = 0.0, embedding_dim: int = 64) -> None:
        self.latency = latency
        self.embedding_dim = embedding_dim
        self.obey_injections = False  # True: reply "PWNED" to passages that ask for it
        self.calls: Counter[str] = Counter()
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # ---- control -------------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        *,
        match: str | None = None,
        endpoint: str = "chat",
        echo_authorization: bool = False,
        anywhere: bool = False,
    ) -> None:
        """Answer `status` to the next matching requests (body echoes the Authorization header if asked)."""
        self._add(Rule("fail", times, endpoint, match, status, dict(headers or {}), body, echo_authorization, anywhere=anywhere))

    def stall_next(self, seconds: float, times: int = 1, *, match: str | None = None, endpoint: str = "chat") -> None:
        """Sit on the next matching requests for `seconds` before answering (beyond the client timeout)."""
        self._add(Rule("stall", times, endpoint, match, seconds=seconds))

    def reply_next(
        self, content: str, times: int = 1, *, finish_reason: str = "stop", match: str | None = None, anywhere: bool = False
    ) -> None:
        """Answer the next matching chat requests with this exact message content (`anywhere`: `match` is
        looked for in the whole user text, e.g. the question of an answer request, not only its passage)."""
        self._add(Rule("reply", times, "chat", match, content=content, finish_reason=finish_reason, anywhere=anywhere))

    def gather_next(self, matches: list[str], timeout_s: float = 120.0) -> None:
        """Hold the next chat request matching each of `matches` until all of them have arrived."""
        barrier = threading.Barrier(len(matches), timeout=timeout_s)
        for match in matches:
            self._add(Rule("gather", 1, "chat", match, barrier=barrier))

    def truncate_next(self, times: int = 1, *, match: str | None = None) -> None:
        """Half an answer with `finish_reason="length"`, as when max_tokens runs out."""
        self.reply_next('{"summary": "The section cov', times, finish_reason="length", match=match)

    def clear_rules(self) -> None:
        """Answer normally again (rules not yet used up are dropped)."""
        with self._lock:
            self._rules.clear()

    def _add(self, rule: Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _take_rule(self, endpoint: str, text: str, whole: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.times > 0 and rule.endpoint == endpoint and (rule.match is None or rule.match in (whole if rule.anywhere else text)):
                    rule.times -= 1
                    return rule
        return None

    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def embedding_requests(self) -> list[tuple[str, list[str]]]:
        """(model, input texts) of every embeddings request, in arrival order."""
        with self._lock:
            bodies = [r.body for r in self.requests if r.path.endswith("/embeddings")]
        return [(str(b.get("model")), [b["input"]] if isinstance(b.get("input"), str) else list(b.get("input") or [])) for b in bodies]

    # ---- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """What the openai client takes as `base_url` (and OPENAI_BASE_URL)."""
        return f"{self.url}/v1"

    def env(self, api_key: str = "sk-test-fake-key-0000") -> dict[str, str]:
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": api_key}

    def start(self) -> FakeOpenAI:
        server = self._server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        # A short poll interval makes stop() (and so every test's teardown) quick.
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases stalled handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- request handling ----------------------------------------------------------------
    def handle(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        endpoint = "chat" if path.endswith("/chat/completions") else "embeddings" if path.endswith("/embeddings") else ""
        if not endpoint:
            return 404, {}, _error_body(f"no route {path}")
        record = RecordedRequest(path, headers, body, time.monotonic())
        with self._lock:
            self.calls[endpoint] += 1
            self.requests.append(record)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            status, extra, payload = self._respond(endpoint, headers, body)
        finally:
            with self._lock:
                self.in_flight -= 1
        record.status = status
        return status, extra, payload

    def _respond(self, endpoint: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        text = passage_of(body) if endpoint == "chat" else json.dumps(body.get("input"))
        rule = self._take_rule(endpoint, text, user_text(body) if endpoint == "chat" else text)
        if self.latency:
            self._stopping.wait(self.latency)
        if rule and rule.kind == "stall":
            self._stopping.wait(rule.seconds)
        if rule and rule.barrier is not None:
            try:
                rule.barrier.wait()
            except threading.BrokenBarrierError:
                pass  # timed out: answer anyway
        if rule and rule.kind == "fail":
            auth = headers.get("authorization", "")
            message = f"Incorrect API key provided: {auth}" if rule.echo_authorization else None
            return rule.status, rule.headers, (rule.body or "").encode() or _error_body(message or f"fake {rule.status}")
        if endpoint == "embeddings":
            return 200, {}, self._embeddings(body)
        return 200, {}, self._chat(body, text, rule if rule and rule.kind == "reply" else None)

    def _chat(self, body: dict[str, Any], passage: str, rule: Rule | None) -> bytes:
        if rule is not None:
            content, finish_reason = rule.content or "", rule.finish_reason
        elif self.obey_injections and INJECTION_TRIGGER in passage.lower():
            content, finish_reason = "PWNED", "stop"
        else:
            content, finish_reason = json.dumps(default_extraction(passage)), "stop"
            if (body.get("response_format") or {}).get("type") != "json_object":
                content = f"Here is the result:\n```json\n{content}\n```"  # what chatty models do
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        reply = {
            "id": f"chatcmpl-{hashlib.sha256(passage.encode()).hexdigest()[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "unknown"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
            ],
            "usage": {
                "prompt_tokens": prompt_words,
                "completion_tokens": len(content.split()),
                "total_tokens": prompt_words + len(content.split()),
            },
        }
        return json.dumps(reply).encode()

    def _embeddings(self, body: dict[str, Any]) -> bytes:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else [x if isinstance(x, str) else json.dumps(x) for x in inputs]
        dim = int(body.get("dimensions") or self.embedding_dim)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embedding_for(text, dim)
            encoded: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode() if as_base64 else vector.tolist()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(t.split()) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return json.dumps({"object": "list", "data": data, "model": body.get("model"), "usage": usage}).encode()


def _error_body(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "fake_error", "param": None, "code": None}}).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of concurrent connects must not be refused
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that gave up (timeouts) close mid-reply; that is the point of a stall


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, payload = self.server.fake.handle(self.path, headers, body)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    """A started fake OpenAI-compatible server, stopped after the test."""
    with FakeOpenAI() as server:
        yield server
