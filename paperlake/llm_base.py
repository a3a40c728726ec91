"""What every metadata LLM is and returns, apart from any implementation.

Both implementations (`paperlake.llm`'s OpenAI one, `paperlake.local_extractive`) import this
module, and `paperlake.llm`'s factory imports both: so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from paperlake.errors import PaperlakeError
from paperlake.prompts import ExtractionFailed
from paperlake.redact import one_line

__all__ = ["ExtractionFailed", "ExtractionOutput", "LLMRequestError", "MetadataLLM"]


@dataclass(frozen=True)
class ExtractionOutput:
    summary: str
    questions: list[str]
    input_tokens: int = 0
    output_tokens: int = 0


class LLMRequestError(PaperlakeError):
    """The server answered with an HTTP error. Redacted; keeps what the retry policy reads.

    The SDK's own exception quotes the response body, which may echo the API key, and holds
    the request with its Authorization header; neither leaves this module.
    """

    def __init__(self, status_code: int, message: str, headers: Mapping[str, str], code: str | None = None) -> None:
        self.status_code = status_code
        self.code = code  # the API's error code, e.g. `insufficient_quota` (a 429 not worth retrying)
        self.response = _ResponseHead(status_code, dict(headers))
        super().__init__(one_line(f"HTTP {status_code}: {message}"))


@dataclass(frozen=True)
class _ResponseHead:
    status_code: int
    headers: dict[str, str]  # lower-case names: retry-after, retry-after-ms


class MetadataLLM(Protocol):
    model: str  # stored with every row: who wrote the summary
    prompt_version: str  # with `model`, the cache namespace

    async def extract(self, passage: str) -> ExtractionOutput: ...

    async def aclose(self) -> None:
        """Release connections opened in the running event loop."""
        ...
