"""A real HTTP proxy on 127.0.0.1 in front of a Prefect server that answers 500 to chosen API calls.

Everything else passes through unchanged, websockets too (Prefect sends task-run events over one),
so a run pointed at it (PREFECT_API_URL) works except where a test wants the API to hiccup.
Importing this module starts nothing: `PrefectProxy(upstream).start()` does.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host", "upgrade"}


class PrefectProxy:
    def __init__(self, upstream_api_url: str) -> None:
        parts = urlsplit(upstream_api_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.api_path = parts.path  # kept, so the proxy's API URL ends like the server's
        self.failing: set[tuple[str, str]] = set()  # (method, path fragment) answered 500
        self.failed: list[str] = []  # "METHOD path" of each request answered 500
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=f"http://{self.upstream[0]}:{self.upstream[1]}", timeout=60)
        self._server: ThreadingHTTPServer | None = None

    def fail(self, method: str, fragment: str) -> None:
        """Answer 500 to every `method` request whose path contains `fragment` ("*" for any method)."""
        with self._lock:
            self.failing.add((method.upper(), fragment))

    def should_fail(self, method: str, path: str) -> bool:
        with self._lock:
            hit = any(m in (method, "*") and fragment in path for m, fragment in self.failing)
            if hit:
                self.failed.append(f"{method} {path}")
            return hit

    @property
    def api_url(self) -> str:
        assert self._server is not None, "proxy not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.api_path}"

    def start(self) -> PrefectProxy:
        server = self._server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._client.close()

    def __enter__(self) -> PrefectProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        return self._client.request(method, path, headers=sent, content=body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    proxy: PrefectProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on websockets at the end of a run


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _handle(self) -> None:
        proxy = self.server.proxy
        if "upgrade" in self.headers.get("connection", "").lower():
            self._tunnel(proxy)
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if proxy.should_fail(self.command, self.path):
            self._reply(500, {"content-type": "application/json"}, b'{"detail": "injected by the test proxy"}')
            return
        response = proxy.forward(self.command, self.path, dict(self.headers.items()), body)
        headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
        self._reply(response.status_code, headers, response.content)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle  # noqa: N815 - http.server's naming

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _tunnel(self, proxy: PrefectProxy) -> None:
        """A websocket: the request head goes upstream as it came, then bytes flow both ways until either side closes."""
        upstream = socket.create_connection(proxy.upstream)
        head = f"{self.requestline}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in self.headers.items()) + "\r\n"
        upstream.sendall(head.encode("latin-1"))
        back = threading.Thread(target=_pipe, args=(upstream, self.connection), daemon=True)
        back.start()
        _pipe(self.connection, upstream)
        back.join(timeout=5)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
