"""Models that turn one parent passage into a summary and five questions.

`OpenAIMetadataLLM` makes one structured chat call per passage through llama-index-llms-openai
(OpenAI, or any OpenAI-compatible server via OPENAI_BASE_URL); the offline stand-in lives in
`paperlake.local_extractive`. Neither retries: the caller
owns the one retry layer (`paperlake.retrying`), so the SDK and llama-index get `max_retries=0`.

`extract` raises builtin `TimeoutError`/`ConnectionError` or `LLMRequestError` (with the HTTP
status; 408/429/5xx are transient and retried by the caller), or `ExtractionFailed` for output
that must not be stored. Error messages are redacted: API keys never travel in them.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from paperlake.llm_base import (  # re-exported: this module is where callers find the LLM's interface
    ExtractionFailed,
    ExtractionOutput,
    LLMRequestError,
    MetadataLLM,
)
from paperlake.prompts import DEFAULT_PROMPTS, PromptSet, parse_extraction
from paperlake.redact import install_log_redaction, one_line
from paperlake.settings import Settings

if TYPE_CHECKING:
    import httpx
    from llama_index.llms.openai import OpenAI

    from paperlake.embedders import Embedder

# Context window assumed for model names llama-index does not know (vLLM/Ollama models, new releases).
UNKNOWN_MODEL_CONTEXT_WINDOW = 32_768
MAX_OUTPUT_TOKENS = 1024


# ---- OpenAI and compatible servers -----------------------------------------------------------
def _openai_class() -> type[OpenAI]:
    import openai.resources  # noqa: F401 - the SDK loads this lazily on the first request: ~0.5 s in a timed wave
    from llama_index.core.base.llms.types import LLMMetadata
    from llama_index.llms.openai import OpenAI

    class AnyModelOpenAI(OpenAI):
        """llama-index's OpenAI, minus the error on model names its tables do not list."""

        @property
        def metadata(self) -> LLMMetadata:
            try:
                return super().metadata
            except ValueError:  # "Unknown model ...": a vLLM/Ollama name; it speaks chat
                return LLMMetadata(
                    context_window=UNKNOWN_MODEL_CONTEXT_WINDOW,
                    num_output=self.max_tokens or -1,
                    is_chat_model=True,
                    is_function_calling_model=False,
                    model_name=self.model,
                )

    return AnyModelOpenAI


class OpenAIChat:
    """One OpenAI(-compatible) chat endpoint: plain or JSON-mode calls, no retries, redacted errors.

    Every chat model of paperlake talks through this (the metadata LLM below, the answer model, the
    safety judge), each with its own model, base URL and key. Installs log redaction for its key."""

    def __init__(self, model: str, api_key: str, base_url: str | None, timeout: float, secrets: list[str]) -> None:
        self.model = model
        self._api_key = api_key
        install_log_redaction([api_key, *secrets])
        self._client_class = _openai_class()  # imports llama-index now, not inside the first timed request
        self._base_url = base_url
        self._timeout = timeout
        # An async HTTP pool belongs to the event loop that opened it: one client per loop, closed by aclose().
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[OpenAI, httpx.AsyncClient]]
        self._clients = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(model={self.model!r})"

    def _client(self) -> OpenAI:
        import openai

        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            http = openai.DefaultAsyncHttpxClient()  # the SDK's own pool limits, but ours to close
            client = self._client_class(
                model=self.model,
                api_key=self._api_key,
                api_base=self._base_url,
                temperature=0.0,
                max_tokens=MAX_OUTPUT_TOKENS,
                max_retries=0,  # our retry layer is the only one
                timeout=self._timeout,
                async_http_client=http,
            )
            self._clients[loop] = (client, http)
        return self._clients[loop][0]

    async def aclose(self) -> None:
        """Close this event loop's connections; the next `extract` opens new ones."""
        _, http = self._clients.pop(asyncio.get_running_loop(), (None, None))
        if http is not None:
            await http.aclose()

    async def chat(self, system: str | None, user: str, *, json_mode: bool = True) -> tuple[Any, str]:
        """One chat call (JSON mode unless told otherwise; no system message when `system` is None):
        (raw response, content). Errors are the retry layer's types, redacted."""
        import openai
        from llama_index.core.llms import ChatMessage, MessageRole

        messages = [ChatMessage(role=MessageRole.USER, content=user)]
        if system is not None:
            messages.insert(0, ChatMessage(role=MessageRole.SYSTEM, content=system))
        error: Exception | None = None
        try:
            options = {"response_format": {"type": "json_object"}} if json_mode else {}  # answers are prose
            response = await self._client().achat(messages, **options)
        except openai.APITimeoutError:  # builtin types: the retry predicate knows them
            error = TimeoutError(f"no answer within {self._timeout:g} s")
        except openai.APIConnectionError as exc:
            error = ConnectionError(one_line(str(exc)))
        except openai.APIStatusError as exc:
            headers = {k.lower(): v for k, v in exc.response.headers.items() if k.lower().startswith("retry-after")}
            code = exc.code if isinstance(exc.code, str) else None
            error = LLMRequestError(exc.status_code, f"{type(exc).__name__}: {exc.message}", headers, code)
        if error is not None:
            # Raised outside the `except`, so the SDK's exception (body, request headers) is not its context.
            raise error
        return response.raw, response.message.content or ""


class OpenAIMetadataLLM(OpenAIChat):
    """One JSON-mode chat call per passage, with PAPERLAKE_LLM_MODEL, OPENAI_API_KEY and OPENAI_BASE_URL."""

    def __init__(self, settings: Settings, prompts: PromptSet = DEFAULT_PROMPTS) -> None:
        api_key = settings.require_openai_key(f"PAPERLAKE_LLM_MODEL={settings.llm_model}")
        super().__init__(settings.llm_model, api_key, settings.openai_base_url, settings.llm_timeout, settings.secret_values())
        self.prompts = prompts
        self.prompt_version = prompts.version
        # Another server may serve another model under the same name: its answers are not ours.
        self.cache_scope = f"{self.model}@{self._base_url}" if self._base_url else self.model

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIMetadataLLM(model={self.model!r}, prompt_version={self.prompt_version!r})"

    async def extract(self, passage: str) -> ExtractionOutput:
        raw, content = await self.chat(self.prompts.system_message(), self.prompts.user_message(passage))
        return self._output(raw, content)

    def _output(self, raw: Any, content: str) -> ExtractionOutput:
        input_tokens, output_tokens = complete_usage(raw)
        try:
            summary, questions = parse_extraction(content, self.prompts.num_questions)
        except ExtractionFailed as exc:
            raise ExtractionFailed(exc.reason, input_tokens, output_tokens) from None
        return ExtractionOutput(summary, questions, input_tokens, output_tokens)


def complete_usage(raw: Any) -> tuple[int, int]:
    """(input, output) tokens of a chat response; `ExtractionFailed` when the answer was cut short."""
    usage = getattr(raw, "usage", None)
    input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    finish_reason = raw.choices[0].finish_reason if getattr(raw, "choices", None) else None
    if finish_reason in ("length", "content_filter"):
        raise ExtractionFailed(f"partial output: finish_reason={finish_reason}", input_tokens, output_tokens)
    return input_tokens, output_tokens


def make_metadata_llm(settings: Settings, embedder: Embedder | None = None) -> MetadataLLM:
    """The configured model; `ConfigError` naming OPENAI_API_KEY when OpenAI is chosen without a key."""
    if settings.llm_is_local:
        if embedder is None:
            from paperlake.embedders import make_embedder

            embedder = make_embedder(settings)
        from paperlake.local_extractive import LocalExtractiveLLM

        return LocalExtractiveLLM(embedder)
    return OpenAIMetadataLLM(settings)
