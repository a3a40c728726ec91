"""One evaluation question per parent passage, from the configured LLM (or the offline stand-in).

As LlamaIndex's `generate_question_context_pairs` does: the passage goes to the LLM, which writes a
quiz question answerable from it; the passage is then the question's one relevant context. Requests
run concurrently within `llm_concurrency`, each retried by the one retry layer. The set is all or
nothing: a passage that gets no question fails the whole generation (nothing half is stored).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from paperlake.errors import PaperlakeError
from paperlake.llm_base import ExtractionFailed
from paperlake.prompts import EVAL_QUESTION_PROMPTS, LOCAL_EVAL_QUESTION_TEMPLATE, LOCAL_EVAL_QUESTION_VERSION, parse_question
from paperlake.redact import describe_error, one_line
from paperlake.retrying import retried_in_slot
from paperlake.settings import LOCAL_LLM_MODELS, Settings

_MAX_STATEMENT_WORDS = 40  # longer sentences are usually several glued by PDF text; cut there


class QuestionGenerationError(PaperlakeError):
    """A passage got no question; the message names the parent and why."""


class QuestionWriter(Protocol):
    model: str  # stored with the questions: who wrote them
    version: str  # the prompt (or algorithm) they were written with

    async def write(self, passage: str) -> str: ...

    async def aclose(self) -> None: ...


class LocalQuestionWriter:
    """No model call: one of the passage's own statements, turned into a question to find it by.

    The statement is the passage's longest sentence of at most 40 words, not its first or last
    (those are often carry-overs cut by the chunk boundary) when it has three or more; deterministic."""

    model = LOCAL_LLM_MODELS[0]
    version = LOCAL_EVAL_QUESTION_VERSION

    async def write(self, passage: str) -> str:
        return self.write_sync(passage)

    async def aclose(self) -> None:
        pass

    def write_sync(self, passage: str) -> str:
        from paperlake.local_extractive import passage_sentences  # NLTK's punkt, only when used

        sentences = passage_sentences(passage)
        if not sentences:
            raise ExtractionFailed("empty passage")
        inner = sentences[1:-1] if len(sentences) >= 3 else sentences
        fitting = [s for s in inner if len(s.split()) <= _MAX_STATEMENT_WORDS] or inner
        chosen = max(fitting, key=lambda s: len(s.split()))  # the first of the longest
        statement = " ".join(chosen.rstrip(" .!?;:").split()[:_MAX_STATEMENT_WORDS])  # case kept: it may start with a name
        return LOCAL_EVAL_QUESTION_TEMPLATE.format(statement=statement)


class OpenAIQuestionWriter:
    """One JSON-mode chat call per passage through `paperlake.llm`'s client (key handling, redaction)."""

    def __init__(self, settings: Settings) -> None:
        from paperlake.llm import OpenAIMetadataLLM

        self._llm = OpenAIMetadataLLM(settings, EVAL_QUESTION_PROMPTS)
        self.model = settings.llm_model
        self.version = EVAL_QUESTION_PROMPTS.version

    async def write(self, passage: str) -> str:
        from paperlake.llm import complete_usage

        raw, content = await self._llm.chat(EVAL_QUESTION_PROMPTS.system_message(), EVAL_QUESTION_PROMPTS.user_message(passage))
        complete_usage(raw)  # a cut-off answer is no question
        return parse_question(content)

    async def aclose(self) -> None:
        await self._llm.aclose()


def make_question_writer(settings: Settings) -> QuestionWriter:
    return LocalQuestionWriter() if settings.llm_is_local else OpenAIQuestionWriter(settings)


async def write_questions(passages: Sequence[tuple[str, str]], writer: QuestionWriter, settings: Settings) -> dict[str, str]:
    """{parent id: question} for (parent id, text) pairs; `QuestionGenerationError` if any gets none."""
    slots = asyncio.Semaphore(settings.llm_concurrency)

    async def one(parent_id: str, text: str) -> tuple[str, str]:
        try:
            return parent_id, await retried_in_slot(lambda: writer.write(text), slots, settings.llm_max_attempts,
                                                    settings.retry_after_cap)  # fmt: skip
        except Exception as exc:
            reason = one_line(str(exc)) if isinstance(exc, PaperlakeError) else describe_error(exc)
            raise QuestionGenerationError(f"no evaluation question for parent {parent_id} ({writer.model}): {reason}") from None

    try:
        return dict(await asyncio.gather(*(one(pid, text) for pid, text in passages)))
    finally:
        await writer.aclose()
