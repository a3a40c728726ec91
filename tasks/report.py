"""What a run tells people: Prefect artifacts (a table per run, a progress bar that moves) and
the one-line verdict that names the failed papers."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.futures import PrefectFuture, as_completed

from paperlake import progress
from paperlake.files import write_atomically
from paperlake.models import PaperReport
from paperlake.redact import describe_error

log = logging.getLogger(__name__)
R = TypeVar("R")


def report_rows(reports: Iterable[PaperReport]) -> list[dict[str, object]]:
    return [
        {
            "paper": r.paper_id,
            "status": r.status,
            "pages": r.n_pages,
            "nodes": r.n_nodes,
            "seconds": round(r.seconds, 2),
            "reason": r.reason,
            "title": (r.title or "")[:80],
        }
        for r in reports
    ]


def failure_message(reports: list[PaperReport]) -> str | None:
    """`None` when every paper is fine; else one line naming each failed paper and why."""
    failed = [r for r in reports if r.status == "failed"]
    if not failed:
        return None
    named = "; ".join(f"{r.paper_id} ({r.reason})" for r in failed)
    return f"{len(failed)} of {len(reports)} papers failed: {named}"


def publish_table(key: str, rows: list[dict[str, object]], description: str) -> bool:
    """A table artifact; False (logged) when Prefect's API fails: a report never fails the work it reports on."""
    if not rows:
        return True
    return _published(key, lambda: create_table_artifact(table=rows, key=key, description=description, _sync=True))


def publish_markdown(key: str, markdown: str, description: str) -> bool:
    """A markdown artifact (Prefect's UI renders it, `data:image/png;base64,...` images too); False when the API fails."""
    return _published(key, lambda: create_markdown_artifact(markdown=markdown, key=key, description=description, _sync=True))


def png_image(alt: str, png: bytes) -> str:
    """Markdown for a PNG inline (a `data:` URI): Prefect's UI shows it with no file server."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def publish_chart(key: str, description: str, draw: Callable[[], bytes], path: Path,
                  markdown: Callable[[bytes, Path | None], str]) -> Path | None:  # fmt: skip
    """Draw a trend chart, write it to `path` and publish `markdown(png, path or None)` as an artifact.

    Each step is best effort, logged: a chart is a view of data that has landed and must not fail the
    run. Returns the path when the file was written."""
    try:
        png = draw()
    except Exception as exc:
        log.warning("trend chart not drawn: %s", describe_error(exc))
        return None
    written: Path | None = None
    try:
        write_atomically(path, [png])
        written = path
    except OSError as exc:
        log.warning("trend chart not written: %s", describe_error(exc))
    publish_markdown(key, markdown(png, written), description)
    return written


def _published(key: str, create: Callable[[], object]) -> bool:
    try:
        create()
    except Exception as exc:  # the API hiccuped: the run's data has landed, only its report is lost
        log.warning("artifact %s not published: %s", key, describe_error(exc))
        return False
    return True


class RunProgress:
    """A Prefect progress artifact plus the in-process listeners (the CLI's bar), moved together.

    Safe to move from an event loop's thread (artifact calls are forced synchronous) and cheap
    to move often (the artifact is updated at most every `every_s` seconds, and at the end).
    """

    def __init__(self, stage: str, total: int, key: str, every_s: float = 0.5) -> None:
        self.stage, self.total, self.done, self.every_s, self.key = stage, total, 0, every_s, key
        self._last_update = time.monotonic()
        self.artifact_id: UUID | None = None  # None: Prefect's API failed; the work and the CLI's bar go on
        try:
            self.artifact_id = create_progress_artifact(progress=0.0, key=key, description=self._describe(), _sync=True)
        except Exception as exc:  # a progress bar must never fail the work it reports on
            log.warning("progress artifact %s not created: %s", key, describe_error(exc))
        progress.advance(stage, 0, total)

    def _describe(self) -> str:
        return f"{self.stage}: {self.done} of {self.total}"

    def moved_to(self, done: int, total: int | None = None, label: str = "") -> None:
        self.done, self.total = done, total if total is not None else self.total
        progress.advance(self.stage, self.done, self.total, label)
        now = time.monotonic()
        if self.artifact_id is None or (self.done < self.total and now - self._last_update < self.every_s):
            return
        self._last_update = now
        percent = 100.0 * self.done / self.total if self.total else 100.0
        try:
            update_progress_artifact(self.artifact_id, progress=percent, description=self._describe(), _sync=True)
        except Exception as exc:  # a progress bar must never fail the work it reports on
            # Said once at the end (a warning per paper would bury the run's real warnings).
            log_level = logging.WARNING if self.done >= self.total else logging.DEBUG
            log.log(log_level, "progress artifact %s not updated: %s", self.key, describe_error(exc))

    def track(self, futures: list[PrefectFuture[R]]) -> Iterator[R]:
        """Results in completion order, moving the bar as each lands."""
        for future in as_completed(futures):
            result = future.result()
            self.moved_to(self.done + 1, label=getattr(result, "paper_id", ""))
            yield result
