"""Where the CLI's flow runs report: a running Prefect server (PREFECT_API_URL) or Prefect's temporary one.

Checked before a flow starts, so that a server that does not answer, or a temporary server that
cannot start, is one line naming the variable within seconds, instead of Prefect's 20 s timeout and
a 100-line traceback. The temporary server is Prefect's own (`SubprocessASGIServer`, the one
`get_client` would start); started here first, every later Prefect call in the process reuses it.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cli.common import quiet_prefect
from paperlake.errors import PaperlakeError

# Prefect's default allowance is 20 s; measured on this shared machine under load, the temporary
# server took up to 57 s to answer. A user's PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS wins.
STARTUP_ALLOWANCE_S = 90
HEALTH_TIMEOUT_S = 3.0  # a server on this machine or the LAN answers /health in milliseconds
_RUN_A_SERVER = "start one with `prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api"


def connect_prefect() -> None:
    """Make sure this process's flow runs have a Prefect API; `PaperlakeError` (one line) when they cannot."""
    quiet_prefect()  # before Prefect is imported: it reads its logging settings once
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        check_api_answers(settings.api.url, settings)
        return
    if not settings.server.ephemeral.enabled:
        raise PaperlakeError(f"PREFECT_API_URL is not set and PREFECT_SERVER_ALLOW_EPHEMERAL_MODE is off: {_RUN_A_SERVER}")
    home = Path(settings.home)
    writable_home(home)
    start_temporary_server(home, startup_allowance(settings))


def check_api_answers(url: str, settings: Any, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
    """`GET {PREFECT_API_URL}/health`, once, with a short timeout (Prefect's client would retry for minutes)."""
    import httpx

    verify: Any = settings.api.ssl_cert_file or not settings.api.tls_insecure_skip_verify
    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=timeout_s, verify=verify)
    except (httpx.HTTPError, ValueError) as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise PaperlakeError(
            f"PREFECT_API_URL={url} does not answer ({reason}): start that server (`prefect server start`), "
            "or unset PREFECT_API_URL to run on a temporary local server"
        ) from None
    if response.status_code == 404:
        raise PaperlakeError(f"PREFECT_API_URL={url} answers, but not as a Prefect API (HTTP 404 for /health); "
                             "a local server's API URL ends in /api, e.g. http://127.0.0.1:4200/api")  # fmt: skip


def writable_home(home: Path) -> None:
    """The temporary server keeps its database in PREFECT_HOME: say so now if it cannot write there."""
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=home, prefix=".paperlake-probe-"):
            pass
    except OSError as exc:
        raise PaperlakeError(
            f"PREFECT_HOME={home} is not writable ({exc.strerror or exc}), so Prefect's temporary server cannot "
            f"start: set PREFECT_HOME to a writable folder, or PREFECT_API_URL to a running server ({_RUN_A_SERVER})"
        ) from None


def startup_allowance(settings: Any) -> int:
    """The user's PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS if set anywhere Prefect reads settings from."""
    ephemeral = settings.server.ephemeral
    if "startup_timeout_seconds" in ephemeral.model_fields_set:
        return int(ephemeral.startup_timeout_seconds)
    return max(int(ephemeral.startup_timeout_seconds), STARTUP_ALLOWANCE_S)


@contextmanager
def _one_start_at_a_time(home: Path) -> Iterator[None]:
    """Temporary servers of one PREFECT_HOME share its SQLite database, and each migrates it as it starts:
    several `paperlake` commands starting at once then time out or report "database is locked"."""
    with open(home / ".paperlake-server-start.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released by the OS if this process dies
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start_temporary_server(home: Path, allowance_s: int) -> None:
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the process-wide instance Prefect's clients look up
    if server.running:
        return
    with _one_start_at_a_time(home):
        try:
            server.start(timeout=allowance_s)
        except Exception as exc:  # Prefect's message carries the server's whole output: keep one line
            exited = server.server_process.poll() if server.server_process is not None else None
            server.stop()
            how = f"exited with code {exited}" if exited is not None else f"did not answer within {allowance_s} s"
            raise PaperlakeError(
                f"Prefect's temporary server (PREFECT_HOME={home}) {how} ({type(exc).__name__}); raise "
                f"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or {_RUN_A_SERVER}"
            ) from None
