"""What an operator sees in a flow run's logs: paperlake's own warnings and errors, with secrets redacted.

Prefect ships the records of its own run loggers to the API; records of other loggers reach only a
terminal unless named in PREFECT_LOGGING_EXTRA_LOGGERS. Ours (`tasks.*`, `storage.*`, `paperlake.*`,
`flows.*`: a failed paper, a failed extraction, a retried request) get the same treatment here, in
code, so no user has to set that variable: every flow calls `start_run` first, which works alike in
the CLI's process and in the process a worker starts for a flow run (it imports the flow's module).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging.handlers import APILogHandler

from paperlake.redact import install_log_redaction
from paperlake.settings import Settings

LOGGER_ROOTS = ("paperlake", "tasks", "storage", "flows")  # loggers are named after modules
_lock = threading.Lock()


class _InRun(logging.Filter):
    """Only records made inside a flow or task run go to the API (they belong to that run's logs);
    Prefect's handler would warn about any other, e.g. a library call after the run in the same process."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "flow_run_id", None):
            return True
        return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def ship_logs_to_prefect(roots: Iterable[str] = LOGGER_ROOTS) -> None:
    """Prefect's API log handler on each of our logger roots, once per process.

    INFO and above, at the loggers' own levels (WARNING by default): never our DEBUG chatter."""
    with _lock:
        for name in roots:
            logger = logging.getLogger(name)
            if any(isinstance(handler, APILogHandler) for handler in logger.handlers):
                continue
            handler = APILogHandler(level=logging.INFO)
            handler.addFilter(_InRun())
            logger.addHandler(handler)


def start_run(settings: Settings) -> None:
    """What every flow does first: redact this run's secrets from every log record, then ship ours to Prefect.

    Redaction wraps the log-record factory, so records are scrubbed when made, before any handler
    (Prefect's API handler included) sees them."""
    install_log_redaction(settings.secret_values())
    ship_logs_to_prefect()
