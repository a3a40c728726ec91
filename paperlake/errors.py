"""Errors that name what went wrong, for whom, in one line."""

from __future__ import annotations

from paperlake.redact import one_line


class PaperlakeError(Exception):
    """Base of every error paperlake raises on purpose."""


class ConfigError(PaperlakeError):
    """A setting is missing or wrong; the message names the variable."""


class NoJudgeError(ConfigError):
    """The safety evaluation has no judge model: nothing can be measured, and nothing is recorded."""


class PaperError(PaperlakeError):
    """One paper cannot be ingested. `reason` is a short stable code stored in `papers.error`.

    Reasons: invalid_id, not_found, download_failed, not_pdf, too_large, corrupt, encrypted,
    too_many_pages, no_text, parse_timeout, parse_crashed, embed_failed, write_failed,
    internal_error; for extraction also not_ingested and embed_model_changed.
    """

    def __init__(self, paper_id: str, reason: str, detail: str = "") -> None:
        self.paper_id = paper_id
        self.reason = reason
        # One line, whatever the cause printed, and never a secret: details come from provider
        # errors whose bodies may echo the API key, and they end up in Parquet and artifacts.
        self.detail = one_line(detail, limit=500)
        super().__init__(str(self))

    def __str__(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return f"{self.paper_id}: {self.reason}{tail}"

    def __reduce__(self):  # survives pickling across the parser process boundary
        return (type(self), (self.paper_id, self.reason, self.detail))

    @property
    def one_line(self) -> str:
        """What `papers.error` stores: the reason code, then the detail."""
        return f"{self.reason}: {self.detail}" if self.detail else self.reason
