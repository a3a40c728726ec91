"""This process's spacing of request starts, for any API with a requests-per-minute cap.

One slot is handed out at a time under a thread lock (not an asyncio one): a limiter may serve
coroutines of several event loops, as `run_sync` makes one per call. The cross-process side of the
same limit is paperlake.shared_rate.
"""

from __future__ import annotations

import asyncio
import threading
import time


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
