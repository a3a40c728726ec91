"""Progress of a run, for whoever is watching: the CLI's progress bar listens here.

Flows report through `advance`; a listener is a plain callable, so the flows stay
ignorant of terminals and the CLI stays ignorant of Prefect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, int, int, str], None]  # (stage, done, total, label)
_listeners: list[Listener] = []


def advance(stage: str, done: int, total: int, label: str = "") -> None:
    for listener in list(_listeners):
        listener(stage, done, total, label)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
