"""Answers from the lake with citations that point at retrieved passages (contract: notes/answer_interface.md).

A question is searched with one retrieval strategy (by default the best of the latest evaluation run),
the parent passages found go to the answer model under their citation markers, and the citations in
what comes back are checked against those passages: the true ones are kept and described by stable
things (paper id, version, pages, text sha256), invented ones are dropped and listed. An answer with
no true citation says the passages do not contain it (or keeps a refusal as such), never a guess.

Prefect-free, and llama-index only when an OpenAI model answers: `paperlake ask` imports this module.
The flow's @task wrappers live in tasks/answer_tasks.py for that reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from paperlake.answer_llm import AnswerModel, make_answer_model
from paperlake.answer_prompts import NOT_FOUND, ShownPassage, is_refusal, says_not_found
from paperlake.asyncio_sync import run_sync
from paperlake.citations import Pages, resolve
from paperlake.errors import PaperlakeError
from paperlake.models import sha256_text
from paperlake.pacing import LLMGate
from paperlake.redact import describe_error, one_line, redact
from paperlake.retrying import retried_in_slot
from paperlake.settings import Settings
from storage.answers import best_strategy, latest_results, paper_versions
from storage.lakehouse import Lakehouse
from storage.search import DEFAULT_STRATEGY, STRATEGIES, SearchResult

if TYPE_CHECKING:
    from storage.search import Searcher

T = TypeVar("T")
History = Sequence[tuple[str, str]]


class AnswerError(PaperlakeError):
    """A question that cannot be asked (empty, no questions at all), in one line."""


@dataclass(frozen=True)
class Citation:
    marker: str  # as it appears in the answer text, e.g. "[2307.09288 p.12–13]"
    paper_id: str
    version: str | None  # arXiv version of the paper in the lake (None for local PDFs)
    page_start: int | None
    page_end: int | None
    text_sha256: str  # of the cited parent passage: stable across re-ingests, unlike positions
    node_id: str  # the parent node retrieved (for joining with nodes)
    title: str | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    question: str  # as asked (secrets redacted)
    query: str  # what was searched (a chat follow-up rewritten into a standalone query)
    answer: str  # text with citation markers; or the "not in the passages" statement
    citations: list[Citation]  # only passages actually retrieved, in order of first mention
    sources: list[SearchResult]  # the retrieved passages, best first
    strategy: str
    model: str  # the LLM that answered, or "local-extractive"
    extractive: bool  # True when the offline extractive answerer produced it
    grounded: bool  # False when the answer says the passages do not contain it
    refused: bool  # True when the model declined to answer (a refusal, not "not in the passages")
    dropped_citations: list[str] = field(default_factory=list)  # cited by the model, but no retrieved passage

    def as_json(self) -> dict[str, Any]:
        plain = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {**plain, "citations": [c.as_json() for c in self.citations], "sources": [s.as_json() for s in self.sources]}


@dataclass
class AnswerBatch:
    """What one batch of questions got: answers, and the questions whose answer failed (with why)."""

    answers: list[Answer]
    failures: list[tuple[str, str]]  # (question, one-line reason)
    strategy: str
    k: int
    model: str
    lake_snapshot: int


def check_questions(questions: Sequence[str]) -> None:
    if not questions:
        raise AnswerError("no questions: give at least one question to answer")
    blank = [str(i) for i, q in enumerate(questions, start=1) if not q.strip()]
    if blank:
        raise AnswerError(f"empty question (number {', '.join(blank)} of {len(questions)}): give some text to ask")


def _reason(exc: BaseException) -> str:
    return one_line(str(exc)) if isinstance(exc, PaperlakeError) else describe_error(exc)


class Answerer:
    """One searcher, one lake handle and one answer model for many questions (a chat, a batch)."""

    def __init__(self, settings: Settings, *, searcher: Searcher | None = None, llm: AnswerModel | None = None) -> None:
        from storage.search import Searcher

        self.settings = settings
        self._owns_searcher = searcher is None
        self.searcher = searcher if searcher is not None else Searcher(settings)
        self.llm = llm if llm is not None else make_answer_model(settings)
        self._house = Lakehouse(settings.data_dir, read_only=True)
        self._default_strategy: str | None = None
        # PAPERLAKE_LLM_RPM holds for answers as for extraction, across processes given a Prefect server;
        # a key the API refuses stops this chat's or batch's requests after a few refusals.
        self._gate = LLMGate(None if self.llm.extractive else settings.llm_rpm)

    def close(self) -> None:
        if self._owns_searcher:
            self.searcher.close()
        self._house.close()

    def __enter__(self) -> Answerer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def strategy(self, asked: str | None = None) -> str:
        """`asked`, else the best strategy of the latest evaluation run on this embedding model, else the default."""
        if asked is not None:
            return asked
        if self._default_strategy is None:
            preference = [DEFAULT_STRATEGY, *(s for s in STRATEGIES if s != DEFAULT_STRATEGY)]
            found = best_strategy(latest_results(self._house, self.searcher.embed_model), preference)
            self._default_strategy = found or DEFAULT_STRATEGY
        return self._default_strategy

    def answer(self, question: str, *, strategy: str | None = None, k: int = 5, paper_ids: Sequence[str] | None = None,
               history: History = ()) -> Answer:  # fmt: skip
        """One answer; a model that keeps failing raises its (redacted) error."""
        check_questions([question])
        chosen = self.strategy(strategy)
        outcomes, _ = run_sync(lambda: self._ask([question], chosen, k, paper_ids, history))
        if isinstance(outcomes[0], BaseException):
            raise outcomes[0]
        return outcomes[0]

    def answer_many(self, questions: Sequence[str], *, strategy: str | None = None, k: int = 5,
                    paper_ids: Sequence[str] | None = None) -> AnswerBatch:  # fmt: skip
        """Every question searched in one batch, answered concurrently; a failed answer fails only its question."""
        check_questions(questions)
        chosen = self.strategy(strategy)
        outcomes, snapshot = run_sync(lambda: self._ask(list(questions), chosen, k, paper_ids, ()))
        answers = [o for o in outcomes if isinstance(o, Answer)]
        failures = [(q, _reason(o)) for q, o in zip(questions, outcomes, strict=True) if isinstance(o, BaseException)]
        return AnswerBatch(answers, failures, chosen, k, self.llm.model, snapshot)

    async def _ask(self, questions: list[str], strategy: str, k: int, paper_ids: Sequence[str] | None,
                   history: History) -> tuple[list[Answer | BaseException], int]:  # fmt: skip
        slots = asyncio.Semaphore(self.settings.llm_concurrency)
        questions = [redact(q, self.settings.secret_values()) for q in questions]  # a pasted key is not searched nor kept

        async def retried(call: Callable[[], Awaitable[T]]) -> T:
            return await retried_in_slot(lambda: self._gated(call), slots, self.settings.llm_max_attempts, self.settings.retry_after_cap)

        try:
            queries = [await retried(lambda q=q: self.llm.condense(history, q)) if history else q for q in questions]
            found = self.searcher.search_many(queries, strategy, k, paper_ids)
            snapshot = self.searcher.snapshot_id
            versions = paper_versions(self._house, sorted({r.paper_id for results in found for r in results}))
            replies = await asyncio.gather(
                *(retried(lambda q=q, r=r: self._reply(q, r)) for q, r in zip(questions, found, strict=True)),
                return_exceptions=True,
            )
        finally:
            await self.llm.aclose()
        return [
            reply if isinstance(reply, BaseException) else self._build(question, query, reply, results, versions, strategy)
            for question, query, results, reply in zip(questions, queries, found, replies, strict=True)
        ], snapshot

    async def _gated(self, call: Callable[[], Awaitable[T]]) -> T:
        await self._gate.wait()
        return await self._gate.refusals.guard(call)

    async def _reply(self, question: str, results: list[SearchResult]) -> str:
        if not results:
            return NOT_FOUND
        shown = [ShownPassage(Pages(r.paper_id, r.page_start, r.page_end).marker, r.title, r.text) for r in results]
        return await self.llm.answer(question, shown)

    def _build(self, question: str, query: str, reply: str, results: list[SearchResult], versions: dict[str, str | None],
               strategy: str) -> Answer:  # fmt: skip
        """Check the reply's citations against the passages retrieved; redact what a model may have echoed."""
        secrets = self.settings.secret_values()
        pages = [Pages(r.paper_id, r.page_start, r.page_end) for r in results]
        resolved = resolve(redact(reply, secrets).strip(), pages)
        citations = [_citation(results[i], pages[i].marker, versions) for i in resolved.cited]
        text, refused = resolved.text, False
        if not citations:  # nothing true to point at: not in the passages, or a refusal kept as such
            refused = bool(text) and not says_not_found(text) and is_refusal(text)
            text = text if refused else NOT_FOUND
        return Answer(
            question=question, query=redact(query, secrets), answer=text, citations=citations,
            sources=results, strategy=strategy, model=self.llm.model, extractive=self.llm.extractive,
            grounded=bool(citations), refused=refused, dropped_citations=resolved.dropped,
        )  # fmt: skip


def _citation(result: SearchResult, marker: str, versions: dict[str, str | None]) -> Citation:
    return Citation(marker=marker, paper_id=result.paper_id, version=versions.get(result.paper_id), page_start=result.page_start,
                    page_end=result.page_end, text_sha256=sha256_text(result.text), node_id=result.node_id,
                    title=result.title)  # fmt: skip


def answer_question(settings: Settings, question: str, *, strategy: str | None = None, k: int = 5,
                    paper_ids: Sequence[str] | None = None, history: History = (), searcher: Searcher | None = None,
                    llm: AnswerModel | None = None) -> Answer:  # fmt: skip
    """One answer. strategy None: the best by the latest evaluation run, else storage.search.DEFAULT_STRATEGY.
    history: earlier (question, answer) turns of a chat; the question is condensed into a standalone query."""
    with Answerer(settings, searcher=searcher, llm=llm) as answerer:
        return answerer.answer(question, strategy=strategy, k=k, paper_ids=paper_ids, history=history)


def answer_batch(settings: Settings, questions: Sequence[str], *, strategy: str | None = None, k: int = 5,
                 paper_ids: Sequence[str] | None = None) -> AnswerBatch:  # fmt: skip
    """Many answers from one searcher: queries embedded in one batch, answers requested concurrently."""
    with Answerer(settings) as answerer:
        return answerer.answer_many(questions, strategy=strategy, k=k, paper_ids=paper_ids)
