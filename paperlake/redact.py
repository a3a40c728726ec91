"""Keep API keys out of every log line, error string and artifact.

`redact` scrubs one string. `install_log_redaction` wraps the process's log-record factory,
so every record (ours, openai's, httpx's, llama-index's, Prefect's) is formatted and scrubbed
the moment it is created, before any handler, formatter or Prefect log shipper sees it.
Servers echo keys back (OpenAI's 401 body names part of the key), so error bodies count too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
# OpenAI-style keys (sk-..., sk-proj-..., masked forms like sk-abc***xyz).
KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-*]{8,}")
_MIN_SECRET_LEN = 8  # shorter "secrets" would shred ordinary words in every log line

_secrets: set[str] = set()
_install_lock = threading.Lock()


def _usable(secrets: Iterable[str | None]) -> list[str]:
    return sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LEN}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` without the given secrets, the installed ones, or anything shaped like an API key."""
    for secret in _usable([*secrets, *_secrets]):
        text = text.replace(secret, REDACTED)
    return KEY_PATTERN.sub(REDACTED, text)


def one_line(text: str, limit: int = 300) -> str:
    """Redacted, whitespace-collapsed, bounded: fit for an `error` column."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_error(exc: BaseException, limit: int = 300) -> str:
    """`ErrorType: message`, redacted and on one line."""
    return one_line(f"{type(exc).__name__}: {exc}", limit)


def _scrub(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep everything, still scrubbed
        message = f"{record.msg} {record.args!r}"
    record.msg = redact(message)
    record.args = ()
    if record.exc_info and not record.exc_text:
        # Formatters reuse exc_text when set, so the traceback is scrubbed once, here.
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class _RedactingFactory:
    """Wraps whatever factory was installed before (Prefect installs its own too)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        _scrub(record)
        return record


def install_log_redaction(secrets: Iterable[str | None] = ()) -> None:
    """Scrub every log record created from now on. Idempotent; later calls only add secrets.

    Pass `settings.secret_values()`: this module knows no settings, so nothing imports in a circle."""
    with _install_lock:
        _secrets.update(_usable(secrets))
        if not isinstance(logging.getLogRecordFactory(), _RedactingFactory):
            logging.setLogRecordFactory(_RedactingFactory(logging.getLogRecordFactory()))
