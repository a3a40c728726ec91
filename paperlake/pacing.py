"""This process's spacing of request starts, for any API with a requests-per-minute cap.

One slot is handed out at a time under a thread lock (not an asyncio one): a limiter may serve
coroutines of several event loops, as `run_sync` makes one per call. The cross-process side of the
same limit is paperlake.shared_rate.
"""

from __future__ import annotations

import asyncio
import threading
import time

from paperlake.refusals import RefusalBreaker
from paperlake.shared_rate import LLM, shared_rate


class RateLimiter:
    """Spaces request starts at least 60/rpm seconds apart: never more than `rpm` in any minute."""

    def __init__(self, rpm: int | None, period: float = 60.0) -> None:
        self.interval = period / rpm if rpm else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:  # held for arithmetic only, never across the sleep
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        await asyncio.sleep(start - now)


class LLMGate:
    """What every LLM request of a run passes before it is sent: a key refused too often stops it
    (`RefusalBreaker`), then the `llm` rate shared across processes (given a Prefect server), then this
    process's own spacing. One copy for extraction and answers; `refusals` counts what the call raises."""

    def __init__(self, rpm: int | None) -> None:
        self.limiter = RateLimiter(rpm)
        self.shared = shared_rate(LLM, self.limiter.interval)
        self.refusals = RefusalBreaker("the LLM API")

    async def wait(self) -> None:
        self.refusals.check()
        if self.limiter.interval:  # the shared limit first: nothing slow between this process's slot and the call
            await asyncio.to_thread(self.shared.wait)
        await self.limiter.wait()
        self.refusals.check()  # refusals may have come in while this one waited its turn
