"""Who answers a question from passages: an OpenAI(-compatible) chat model, or the offline extractive one.

Both take the question and the passages shown under their citation markers, and return text with
markers; checking those markers against what was retrieved is the caller's job (paperlake.citations),
the same for both. Neither retries: the caller owns the one retry layer (paperlake.retrying).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from paperlake.answer_prompts import (
    ANSWER_SYSTEM,
    CONDENSE_SYSTEM,
    ShownPassage,
    answer_user_message,
    condense_user_message,
    read_condensed,
)
from paperlake.settings import Settings

if TYPE_CHECKING:
    from paperlake.embedders import Embedder


class AnswerModel(Protocol):
    model: str  # stored with every answer: who wrote it
    extractive: bool  # True: the answer quotes the passages, no model wrote it

    async def answer(self, question: str, passages: Sequence[ShownPassage]) -> str: ...

    async def condense(self, history: Sequence[tuple[str, str]], question: str) -> str: ...

    async def aclose(self) -> None:
        """Release connections opened in the running event loop."""
        ...


class OpenAIAnswerModel:
    """Plain-text chat calls through paperlake.llm's client (its key handling, redaction and error types)."""

    extractive = False

    def __init__(self, settings: Settings) -> None:
        from paperlake.llm import OpenAIMetadataLLM

        self._llm = OpenAIMetadataLLM(settings)
        self.model = settings.llm_model

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIAnswerModel(model={self.model!r})"

    async def _chat(self, system: str, user: str) -> str:
        from paperlake.llm import complete_usage

        raw, content = await self._llm.chat(system, user, json_mode=False)
        complete_usage(raw)  # an answer cut short (max tokens, content filter) is no answer
        return content

    async def answer(self, question: str, passages: Sequence[ShownPassage]) -> str:
        return await self._chat(ANSWER_SYSTEM, answer_user_message(question, passages))

    async def condense(self, history: Sequence[tuple[str, str]], question: str) -> str:
        if not history:
            return question
        return read_condensed(await self._chat(CONDENSE_SYSTEM, condense_user_message(history, question)), question)

    async def aclose(self) -> None:
        await self._llm.aclose()


def make_answer_model(settings: Settings, embedder: Embedder | None = None) -> AnswerModel:
    """The configured model; `ConfigError` naming OPENAI_API_KEY when OpenAI is chosen without a key."""
    if not settings.llm_is_local:
        return OpenAIAnswerModel(settings)
    from paperlake.answer_local import ExtractiveAnswerModel

    if embedder is None:
        from paperlake.embedders import make_embedder

        embedder = make_embedder(settings)
    return ExtractiveAnswerModel(embedder)
