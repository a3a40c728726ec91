"""One request rate shared by every worker and run: a Prefect global concurrency limit used as a rate limit.

With a Prefect server configured (PREFECT_API_URL, in the environment or the Prefect profile),
`SharedRate.wait()` passes `prefect.concurrency.sync.rate_limit(name)`. The limit has one slot that
decays at 1/interval per second, so the server lets one caller through per interval, whichever
process or machine asks. Without a configured server (the CLI's temporary one is private to its
process) `wait()` returns at once and the callers' in-process spacing is all there is.

The limit is created on first use, or updated when PAPERLAKE_ARXIV_DELAY / PAPERLAKE_LLM_RPM ask for
another rate: the setting is the one knob. `paperlake limits` does the same ahead of time and shows
them; `prefect gcl ls` lists them. Prefect is imported on the first wait that needs it, never on import.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading

from paperlake.redact import describe_error

ARXIV = "arxiv"
LLM = "llm"

log = logging.getLogger(__name__)


def configured_api_url(*, load_prefect: bool = False) -> str | None:
    """The Prefect API this process is configured to use, or None (Prefect would start a temporary one).

    Without Prefect loaded (no flow in this process) only the environment is read, unless
    `load_prefect`: Prefect costs 1-2 s to import, and its profile may name a server too."""
    if not load_prefect and "prefect" not in sys.modules:
        return os.environ.get("PREFECT_API_URL") or None
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def ensure_limit(name: str, interval_s: float) -> None:
    """Create the limit (one slot decaying at 1/interval_s per second), or update it to that rate.

    Idempotent, and safe when several processes start together: Prefect's upsert reads then
    creates, so the loser of a creation race gets 409 and then finds the winner's limit."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.upsert_global_concurrency_limit_by_name(name, 1, slot_decay_per_second=1.0 / interval_s)
        except ObjectAlreadyExists:
            client.upsert_global_concurrency_limit_by_name(name, 1, slot_decay_per_second=1.0 / interval_s)


class SharedRate:
    """Waits for the global limit `name` of one request per `interval_s` seconds, when there is a server."""

    def __init__(self, name: str, interval_s: float) -> None:
        self.name, self.interval_s = name, interval_s
        # One waiter per process at a time: every refused attempt moves the limit's decay clock on
        # (Prefect stamps the row), so threads polling together would only push each other back.
        self._lock = threading.Lock()
        self._ready_for: str | None = None  # the API URL the limit was ensured on
        self._warned = False

    def wait(self) -> None:
        if not self.interval_s or not math.isfinite(self.interval_s):
            return
        try:
            url = configured_api_url()
            if url is None:
                return
            with self._lock:
                if self._ready_for != url:
                    ensure_limit(self.name, self.interval_s)
                    self._ready_for = url
                from prefect.concurrency.sync import rate_limit

                rate_limit(self.name)
        except Exception as exc:  # the API hiccuped: this process's own spacing still holds
            if not self._warned:
                self._warned = True
                log.warning("shared rate limit %r unavailable, spacing this process only: %s", self.name, describe_error(exc))


_RATES: dict[str, SharedRate] = {}
_RATES_LOCK = threading.Lock()


def shared_rate(name: str, interval_s: float) -> SharedRate:
    """The process-wide `SharedRate` of `name`; the latest interval asked for applies."""
    with _RATES_LOCK:
        rate = _RATES.setdefault(name, SharedRate(name, interval_s))
        if rate.interval_s != interval_s:
            rate.interval_s, rate._ready_for = interval_s, None
        return rate


def read_limit(name: str) -> str | None:
    """The limit `name` as the configured server holds it, in words; None when it has none."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            return None
    return f"{limit.limit} slot decaying {limit.slot_decay_per_second:.4g}/s" + ("" if limit.active else ", inactive")
