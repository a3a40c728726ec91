"""One retry policy for every remote call (arXiv, OpenAI-compatible servers), built on tenacity.

Transient failures (connection errors, timeouts, HTTP 408/429/5xx) are retried. A server's
`Retry-After` (seconds or an HTTP date; OpenAI's `retry-after-ms` too) is honoured up to a cap;
above the cap we give up at once rather than stall a whole run. Without it: exponential backoff
with jitter. The last exception is re-raised unchanged, so callers map it to their own errors.
Prefect-free and HTTP-library-agnostic: anything with `.response.headers` / a status code works.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential_jitter

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
REFUSAL_STATUS = frozenset({401, 403})
# Network trouble worth another try; not UnsupportedProtocol/LocalProtocolError (our bug).
_TRANSIENT_HTTPX = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _headers_of(exc: BaseException) -> Mapping[str, str] | None:
    try:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    except Exception:  # some libraries raise from `.response` when there was none
        return None
    return headers if isinstance(headers, Mapping) or hasattr(headers, "get") else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive
        value = headers.get(name.title())
    return value


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now (never negative); None when it is neither form."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # HTTP dates are GMT
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None  # nan/inf
    return max(seconds, 0.0)


def retry_after_seconds(exc: BaseException | None, now: datetime | None = None) -> float | None:
    """The delay the server asked for on this exception's response, if any."""
    headers = _headers_of(exc) if exc is not None else None
    if headers is None:
        return None
    millis = _header(headers, "retry-after-ms")
    if millis is not None:
        parsed = parse_retry_after(millis)
        if parsed is not None:
            return parsed / 1000
    value = _header(headers, "retry-after")
    return parse_retry_after(value, now) if value is not None else None


def status_code_of(exc: BaseException) -> int | None:
    """HTTP status carried by the exception (httpx's `.response`, openai's `.status_code`)."""
    try:
        status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    except Exception:
        return None
    return status if isinstance(status, int) else None


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: network trouble, timeouts, 408/429/5xx; not a refusal (`is_refusal`), however it is sent."""
    if isinstance(exc, _TRANSIENT_HTTPX + (ConnectionError, TimeoutError)):
        return True
    status = status_code_of(exc)
    return status is not None and (status in TRANSIENT_STATUS or 500 <= status <= 599) and not is_refusal(exc)


def is_refusal(exc: BaseException) -> bool:
    """An answer no other request with the same key gets past this run: 401/403 (the key), or 429 with
    OpenAI's `insufficient_quota` (the account's credit; a plain 429 is a rate limit, worth waiting for)."""
    status = status_code_of(exc)
    return status in REFUSAL_STATUS or (status == 429 and getattr(exc, "code", None) == "insufficient_quota")


def _last_exception(retry_state: RetryCallState) -> BaseException | None:
    outcome = retry_state.outcome
    return outcome.exception() if outcome is not None and outcome.failed else None


class wait_retry_after_or_backoff(wait_base):  # noqa: N801 - tenacity's naming
    """The server's Retry-After (up to `cap`), else exponential backoff with jitter."""

    def __init__(self, cap: float, base_delay: float, max_delay: float) -> None:
        self.cap = cap
        self.backoff = wait_exponential_jitter(multiplier=base_delay, max=max_delay, jitter=base_delay)

    def __call__(self, retry_state: RetryCallState) -> float:
        asked = retry_after_seconds(_last_exception(retry_state))
        if asked is not None:
            return min(asked, self.cap)  # above the cap, stop_if_retry_after_over ends the retries
        return self.backoff(retry_state)


class stop_if_retry_after_over(stop_base):  # noqa: N801 - tenacity's naming
    """Give up at once when the server asks us to wait longer than `cap` seconds."""

    def __init__(self, cap: float) -> None:
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> bool:
        asked = retry_after_seconds(_last_exception(retry_state))
        return asked is not None and asked > self.cap


def describe_exception(exc: BaseException) -> str:
    """One short line for logs and `papers.error`: `HTTP 429 with Retry-After 30 s`, `ReadTimeout: ...`."""
    status = status_code_of(exc)
    if status is None:
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    asked = retry_after_seconds(exc)
    return f"HTTP {status}" + (f" with Retry-After {asked:g} s" if asked is not None else "")


def _log_before_sleep(retry_state: RetryCallState) -> None:
    exc = _last_exception(retry_state)
    wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
    what = describe_exception(exc) if exc is not None else "no exception"
    log.warning("attempt %d failed (%s); retrying in %.2f s", retry_state.attempt_number, what, wait)


def _policy(
    max_attempts: int,
    retry_after_cap: float,
    base_delay: float,
    max_delay: float,
    extra_transient: tuple[type[BaseException], ...],
) -> dict[str, Any]:
    def transient(exc: BaseException) -> bool:
        return isinstance(exc, extra_transient) or is_transient(exc)

    return {
        "stop": stop_after_attempt(max_attempts) | stop_if_retry_after_over(retry_after_cap),
        "wait": wait_retry_after_or_backoff(retry_after_cap, base_delay, max_delay),
        "retry": retry_if_exception(transient),
        "before_sleep": _log_before_sleep,
        "reraise": True,
    }


def retrying(
    max_attempts: int,
    retry_after_cap: float,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
    *,
    extra_transient: tuple[type[BaseException], ...] = (),
    sleep: Callable[[float], None] | None = None,
) -> Retrying:
    """A fresh `tenacity.Retrying`: `retrying(...)(fn, *args)` or `for attempt in retrying(...)`."""
    policy = _policy(max_attempts, retry_after_cap, base_delay, max_delay, extra_transient)
    return Retrying(sleep=sleep, **policy) if sleep is not None else Retrying(**policy)


def async_retrying(
    max_attempts: int,
    retry_after_cap: float,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
    *,
    extra_transient: tuple[type[BaseException], ...] = (),
) -> AsyncRetrying:
    """The same policy for coroutines: `await async_retrying(...)(coro_fn, *args)`."""
    return AsyncRetrying(**_policy(max_attempts, retry_after_cap, base_delay, max_delay, extra_transient))


async def retried_in_slot(call: Callable[[], Awaitable[T]], slots: asyncio.Semaphore, max_attempts: int,
                          retry_after_cap: float) -> T:  # fmt: skip
    """`await call()` under the policy above, each attempt holding one of `slots` (the concurrency cap)
    for the request only: a call waiting out a backoff or a Retry-After leaves its slot to the others."""

    async def attempt() -> T:
        async with slots:
            return await call()

    return await async_retrying(max_attempts, retry_after_cap)(attempt)
