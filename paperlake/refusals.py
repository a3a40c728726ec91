"""Stop calling an API that refuses the key: after a few refusals, the remaining requests are not sent.

An API answering 401/403, or 429 with `insufficient_quota`, answers every other request of the run
the same way: trying each of 2,000 parents (or a request per paper) only costs time and fills logs.
`RefusalBreaker` counts refusals (`paperlake.retrying.is_refusal`); from the `limit`-th on, `check()`
raises `ApiRefused` naming the first refusal, so each remaining item fails at once with that reason
(recorded as failed, so the next run tries it again). After `hold_s` it lets requests through again:
a long-lived process (a notebook, a served flow) notices a topped-up quota. Thread-safe; Prefect-free.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from paperlake.errors import PaperlakeError
from paperlake.redact import describe_error, one_line
from paperlake.retrying import is_refusal

REFUSALS_BEFORE_STOP = 3
HOLD_S = 300.0
NOT_SENT = "not sent:"  # how every `ApiRefused` message starts
_OPENAI_HINT = "check OPENAI_API_KEY and the account's quota (OPENAI_BASE_URL for another server)"
T = TypeVar("T")


class ApiRefused(PaperlakeError):
    """Not sent: the API refused this key `limit` times already. Never retried (not transient)."""


class RefusalBreaker:
    def __init__(self, what: str, limit: int = REFUSALS_BEFORE_STOP, hold_s: float = HOLD_S,
                 clock: Callable[[], float] = time.monotonic, check_hint: str = _OPENAI_HINT) -> None:  # fmt: skip
        self.what, self.limit, self.hold_s, self.clock, self.check_hint = what, limit, hold_s, clock, check_hint
        self.refusals = 0
        self.first = ""  # the first refusal, described: the reason every skipped item carries
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    def record(self, exc: BaseException) -> None:
        """Count `exc` if it is a refusal (anything else is none of this breaker's business)."""
        if not is_refusal(exc):
            return
        with self._lock:
            self.refusals += 1
            self.first = self.first or (one_line(str(exc)) if isinstance(exc, PaperlakeError) else describe_error(exc))
            if self.refusals >= self.limit and self._opened_at is None:
                self._opened_at = self.clock()

    def check(self) -> None:
        """Raise `ApiRefused` while open; after `hold_s`, close again (the next refusals reopen it)."""
        with self._lock:
            if self._opened_at is None:
                return
            if self.clock() - self._opened_at >= self.hold_s:
                self.refusals, self._opened_at = 0, None
                return
            raise ApiRefused(
                f"{NOT_SENT} {self.what} refused {self.refusals} requests of this run ({self.first}); {self.check_hint}"
            )

    async def guard(self, call: Callable[[], Awaitable[T]]) -> T:
        """`await call()` unless open; its refusal counted."""
        self.check()
        try:
            return await call()
        except Exception as exc:
            self.record(exc)
            raise

    @property
    def open(self) -> bool:
        with self._lock:
            return self._opened_at is not None
