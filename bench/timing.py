"""Wall and CPU time of the same calls, as medians.

This machine is shared: under load, wall time measures the queue for a core as much as the work.
CPU time (this process, all its threads, user + system) is the work itself and moves far less, so
the lake benchmark prints both and judges its aims on both.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import NamedTuple


class Timing(NamedTuple):
    wall_ms: float
    cpu_ms: float

    def __str__(self) -> str:
        return f"{self.wall_ms:.1f} ({self.cpu_ms:.1f})"

    def ratio(self, other: Timing) -> str:
        """'wall ratio (cpu ratio)' of self over other."""
        return f"{self.wall_ms / other.wall_ms:.2f}x ({self.cpu_ms / other.cpu_ms:.2f}x)"


def timed(fn: Callable[[], object]) -> tuple[Timing, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return Timing((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000), result


def median(timings: list[Timing]) -> Timing:
    return Timing(statistics.median(t.wall_ms for t in timings), statistics.median(t.cpu_ms for t in timings))


def median_of(calls: list[Callable[[], object]], budget_s: float = float("inf"), min_runs: int = 3,
              done: tuple[Timing, ...] = ()) -> Timing:  # fmt: skip
    """Median over `done` and `calls`, run in turn; stops early (after `min_runs`) once `budget_s` is spent:
    slow cases are slow, and a few runs of a 10-second query tell enough."""
    timings = list(done)
    deadline = time.perf_counter() + budget_s
    for call in calls:
        if len(timings) >= min_runs and time.perf_counter() > deadline:
            break
        timings.append(timed(call)[0])
    return median(timings)
