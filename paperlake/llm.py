"""Models that turn one parent passage into a summary and five questions.

`OpenAIMetadataLLM` makes one structured chat call per passage through llama-index-llms-openai
(OpenAI, or any OpenAI-compatible server via OPENAI_BASE_URL). `LocalExtractiveLLM` needs no
network: the summary is the passage's sentences closest to its embedding centroid, the
questions come from templates over its headings and key phrases. Neither retries: the caller
owns the one retry layer (`paperlake.retrying`), so the SDK and llama-index get `max_retries=0`.

`extract` raises builtin `TimeoutError`/`ConnectionError` or `LLMRequestError` (with the HTTP
status; 408/429/5xx are transient and retried by the caller), or `ExtractionFailed` for output
that must not be stored. Error messages are redacted: API keys never travel in them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import threading
import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from paperlake.errors import PaperlakeError
from paperlake.prompts import (  # ExtractionFailed and parse_extraction are part of this module's interface
    DEFAULT_PROMPTS,
    LOCAL_PROMPT_VERSION,
    ExtractionFailed,
    PromptSet,
    local_questions,
    parse_extraction,
)
from paperlake.redact import install_log_redaction, one_line
from paperlake.settings import LOCAL_LLM_MODELS, Settings

if TYPE_CHECKING:
    import httpx
    from llama_index.llms.openai import OpenAI

    from paperlake.embedders import Embedder

# Context window assumed for model names llama-index does not know (vLLM/Ollama models, new releases).
UNKNOWN_MODEL_CONTEXT_WINDOW = 32_768
MAX_OUTPUT_TOKENS = 1024


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

    def __init__(self, status_code: int, message: str, headers: Mapping[str, str]) -> None:
        self.status_code = status_code
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


class OpenAIMetadataLLM:
    """One JSON-mode chat call per passage. Installs log redaction for the API key it holds."""

    def __init__(self, settings: Settings, prompts: PromptSet = DEFAULT_PROMPTS) -> None:
        self.model = settings.llm_model
        self.prompts = prompts
        self.prompt_version = prompts.version
        self._api_key = settings.require_openai_key(f"PAPERLAKE_LLM_MODEL={settings.llm_model}")
        install_log_redaction(settings)
        self._client_class = _openai_class()  # imports llama-index now, not inside the first timed request
        self._base_url = settings.openai_base_url
        self._timeout = settings.llm_timeout
        # An async HTTP pool belongs to the event loop that opened it: one client per loop, closed by aclose().
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[OpenAI, httpx.AsyncClient]]
        self._clients = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIMetadataLLM(model={self.model!r}, prompt_version={self.prompt_version!r})"

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

    async def extract(self, passage: str) -> ExtractionOutput:
        import openai
        from llama_index.core.llms import ChatMessage, MessageRole

        messages = [
            ChatMessage(role=MessageRole.SYSTEM, content=self.prompts.system_message()),
            ChatMessage(role=MessageRole.USER, content=self.prompts.user_message(passage)),
        ]
        error: Exception | None = None
        try:
            response = await self._client().achat(messages, response_format={"type": "json_object"})
        except openai.APITimeoutError:  # builtin types: the retry predicate knows them
            error = TimeoutError(f"no answer within {self._timeout:g} s")
        except openai.APIConnectionError as exc:
            error = ConnectionError(one_line(str(exc)))
        except openai.APIStatusError as exc:
            headers = {k.lower(): v for k, v in exc.response.headers.items() if k.lower().startswith("retry-after")}
            error = LLMRequestError(exc.status_code, f"{type(exc).__name__}: {exc.message}", headers)
        if error is not None:
            # Raised outside the `except`, so the SDK's exception (body, request headers) is not its context.
            raise error
        return self._output(response.raw, response.message.content or "")

    def _output(self, raw: Any, content: str) -> ExtractionOutput:
        usage = getattr(raw, "usage", None)
        input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        finish_reason = raw.choices[0].finish_reason if getattr(raw, "choices", None) else None
        if finish_reason in ("length", "content_filter"):
            raise ExtractionFailed(f"partial output: finish_reason={finish_reason}", input_tokens, output_tokens)
        try:
            summary, questions = parse_extraction(content, self.prompts.num_questions)
        except ExtractionFailed as exc:
            raise ExtractionFailed(exc.reason, input_tokens, output_tokens) from None
        return ExtractionOutput(summary, questions, input_tokens, output_tokens)


# ---- offline --------------------------------------------------------------------------------
# Bump prompts.LOCAL_EXTRACTIVE_ALGORITHM when changing these: it keys the cache.
_HEADING = re.compile(
    r"^\s*(?:\d+(?:\.\d+)*\.?\s+([A-Z][^\n.]{2,80})|(Abstract|Introduction|Related Work|Background|"
    r"Methods?|Experiments|Results|Discussion|Conclusions?|Limitations|Acknowledge?ments))\s*$",
    re.MULTILINE,
)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9\-]*[A-Za-z0-9]")
_MAX_PHRASE_WORDS, _MAX_WORD_CHARS = 3, 24  # longer "words" are glued PDF text


@lru_cache(maxsize=1)
def _nltk_dir() -> Path:
    """The NLTK data shipped inside llama-index-core: read from there, never downloaded."""
    spec = importlib.util.find_spec("llama_index.core")
    assert spec is not None and spec.submodule_search_locations, "llama-index-core is installed"
    return Path(spec.submodule_search_locations[0]) / "_static" / "nltk_cache"


@lru_cache(maxsize=1)
def _sentence_tokenizer() -> Any:
    import nltk.data
    from nltk.tokenize.punkt import PunktTokenizer

    # nltk only opens files under its search path; a missing model is a LookupError, never a download.
    if str(_nltk_dir()) not in nltk.data.path:
        nltk.data.path.append(str(_nltk_dir()))
    return PunktTokenizer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    return frozenset((_nltk_dir() / "corpora" / "stopwords" / "english").read_text().split())


def passage_headings(passage: str) -> list[str]:
    return [" ".join((m.group(1) or m.group(2)).split()) for m in _HEADING.finditer(passage)]


def _segments(passage: str) -> list[str]:
    """The text between heading lines, whitespace collapsed: no sentence or phrase spans a heading."""
    return [" ".join(part.split()) for part in _HEADING.split(passage)[:: 3] if part and part.strip()]


def passage_sentences(passage: str) -> list[str]:
    """Sentences of the passage without its heading lines, whitespace collapsed."""
    segments = _segments(passage)
    sentences = [s.strip() for segment in segments for s in _sentence_tokenizer().tokenize(segment)]
    return [s for s in sentences if len(s.split()) >= 3] or segments[:1]


def _phrase_runs(text: str) -> list[list[str]]:
    """Runs of up to 3 adjacent content words; stopwords, punctuation and glued PDF text end a run."""
    stop, runs, current, last_end = _stopwords(), [], [], 0
    for match in _TOKEN.finditer(text):
        word = match.group()
        adjacent = not text[last_end : match.start()].strip() and len(current) < _MAX_PHRASE_WORDS
        content = word.casefold() not in stop and len(word) <= _MAX_WORD_CHARS
        if current and not (adjacent and content):
            runs.append(current)
            current = []
        if content:
            current.append(word)
        last_end = match.end()
    return [*runs, current] if current else runs


def key_phrases(passage: str, limit: int = 6) -> list[str]:
    """RAKE: phrases ranked by their words' degree/frequency (plus repeats), first seen wins ties."""
    runs = _phrase_runs("\n.\n".join(_segments(passage)))
    frequency = Counter(w.casefold() for run in runs for w in run)
    degree: Counter[str] = Counter()
    for run in runs:
        for word in run:
            degree[word.casefold()] += len(run)
    ranked: dict[str, tuple[float, int, str]] = {}
    for order, run in enumerate(runs):
        words = [w.casefold() for w in run]
        score = sum(degree[w] / frequency[w] for w in words) + frequency[words[0]] - 1
        ranked.setdefault(" ".join(words), (-score, order, " ".join(run)))
    chosen: list[str] = []
    for *_, phrase in sorted(ranked.values()):
        if not any(phrase.casefold() in kept.casefold() for kept in chosen):
            chosen.append(phrase)
    return chosen[:limit]


def centroid_summary(sentences: list[str], embedder: Embedder, k: int) -> str:
    """The k sentences nearest the passage's mean embedding, in their original order."""
    if len(sentences) <= k:
        return " ".join(sentences)
    vectors = embedder.embed(sentences)
    centroid = vectors.mean(axis=0)
    scores = vectors @ (centroid / (np.linalg.norm(centroid) or 1.0))
    best = sorted(np.argsort(-scores, kind="stable")[:k].tolist())
    return " ".join(sentences[i] for i in best)


class LocalExtractiveLLM:
    """No model call at all: extractive summary and templated questions, deterministic."""

    model = LOCAL_LLM_MODELS[0]

    def __init__(self, embedder: Embedder, summary_sentences: int = 3) -> None:
        self.embedder = embedder
        self.summary_sentences = summary_sentences
        # The embedder picks the sentences, so it is part of what produced the output.
        self.prompt_version = f"{LOCAL_PROMPT_VERSION}-{embedder.model}-{summary_sentences}"
        self._lock = threading.Lock()  # embedders are not promised to be thread-safe

    async def extract(self, passage: str) -> ExtractionOutput:
        return await asyncio.to_thread(self.extract_sync, passage)

    async def aclose(self) -> None:
        pass  # nothing held open

    def extract_sync(self, passage: str) -> ExtractionOutput:
        flat = " ".join(passage.split())
        if not flat:
            raise ExtractionFailed("empty passage")
        sentences = passage_sentences(passage) or [flat[:500]]  # a passage that is only a heading
        with self._lock:
            summary = centroid_summary(sentences, self.embedder, self.summary_sentences)
        questions = local_questions(passage_headings(passage), key_phrases(passage))
        return ExtractionOutput(summary, questions)


def make_metadata_llm(settings: Settings, embedder: Embedder | None = None) -> MetadataLLM:
    """The configured model; `ConfigError` naming OPENAI_API_KEY when OpenAI is chosen without a key."""
    if settings.llm_is_local:
        if embedder is None:
            from paperlake.embedders import make_embedder

            embedder = make_embedder(settings)
        return LocalExtractiveLLM(embedder)
    return OpenAIMetadataLLM(settings)
