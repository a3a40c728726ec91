"""Running a coroutine to completion from sync code, whether or not this thread runs an event loop."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(make())`; inside a running loop (a Prefect worker, a notebook), on a thread of its own.

    Takes a factory, not a coroutine, so no coroutine is created on a thread that never awaits it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    # A loop runs here: it cannot be blocked on, so use a thread with a loop of its own. It runs in a copy
    # of this thread's context, so what runs there still belongs to the caller's flow run (its logs too).
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperlake-async") as pool:
        return pool.submit(context.run, lambda: asyncio.run(make())).result()
