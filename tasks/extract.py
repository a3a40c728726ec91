"""Summary and five questions per parent passage: once (cached), in parallel, through a flaky API.

The cache key is sha256(passage) in the namespace `model[@server]|prompt_version`, so a re-run on
unchanged text makes no call and a new model or prompt re-extracts exactly what it affects.
Only complete outputs are cached: a failed or partial passage is recorded as `failed` and
tried again next run. One retry layer (`paperlake.retrying`) retries 429/5xx/timeouts per
request; a semaphore bounds requests in flight and an optional limiter spaces them for an
RPM cap (across processes too, through the global limit "llm" when a Prefect server is configured). Everything here is Prefect-free except the thin task at the bottom.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from prefect import task
from prefect.cache_policies import NO_CACHE

from paperlake.asyncio_sync import run_sync
from paperlake.errors import PaperlakeError
from paperlake.llm import ExtractionFailed, ExtractionOutput, MetadataLLM, make_metadata_llm
from paperlake.models import Node, sha256_text
from paperlake.pacing import LLMGate
from paperlake.redact import describe_error, one_line
from paperlake.refusals import NOT_SENT
from paperlake.retrying import async_retrying
from paperlake.settings import Settings
from storage.cache import ContentCache
from storage.lake import Lake
from tasks.extract_cache import Outcome, SharedExtractions, decode, encode, encode_stored

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (passages done, passages total)


@dataclass(frozen=True)
class ParentPassage:
    parent_id: str
    paper_id: str
    text: str
    text_sha256: str

    @classmethod
    def of(cls, node: Node) -> ParentPassage:
        """The passage of a parent node (the cache key is its `text_sha256`)."""
        return cls(node.node_id, node.paper_id, node.text, node.text_sha256 or sha256_text(node.text))


@dataclass(frozen=True)
class ExtractionRecord:
    parent_id: str
    paper_id: str
    model: str
    prompt_version: str
    summary: str  # "" when failed
    questions: list[str]  # exactly QUESTIONS_PER_PARENT when ok, [] when failed
    input_tokens: int  # of the call that produced it, also when served from the cache
    output_tokens: int
    latency_s: float  # of the request that produced it (kept from then when served from the cache); 0 when failed
    status: Literal["ok", "failed"]
    error: str  # one redacted line when failed
    created_at: datetime  # when the output was produced (cache hits keep the original time)
    cached: bool


@dataclass
class ExtractionRun:
    model: str
    prompt_version: str
    records: list[ExtractionRecord] = field(default_factory=list)  # one per passage, input order
    calls: int = 0  # model requests made this run, retries included
    cache_hits: int = 0  # distinct texts served from the cache
    failures: int = 0  # passages recorded as failed
    input_tokens: int = 0  # spent this run (cache hits cost nothing)
    output_tokens: int = 0
    peak_in_flight: int = 0
    seconds: float = 0.0

    def summary_row(self) -> dict[str, object]:
        """The run in one row, for the Prefect table artifact and the CLI."""
        return {
            "model": self.model, "prompt_version": self.prompt_version, "parents": len(self.records),
            "calls": self.calls, "cache_hits": self.cache_hits, "failures": self.failures,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "peak_in_flight": self.peak_in_flight, "seconds": self.seconds,
        }  # fmt: skip


def _record(passage: ParentPassage, run: ExtractionRun, outcome: Outcome) -> ExtractionRecord:
    output = outcome.output
    return ExtractionRecord(
        parent_id=passage.parent_id,
        paper_id=passage.paper_id,
        model=run.model,
        prompt_version=run.prompt_version,
        summary=output.summary if output else "",
        questions=list(output.questions) if output else [],
        input_tokens=output.input_tokens if output else 0,
        output_tokens=output.output_tokens if output else 0,
        latency_s=round(outcome.latency_s, 3),
        status="ok" if output else "failed",
        error=outcome.error,
        created_at=outcome.created_at,
        cached=outcome.cached,
    )


class _Extractor:
    """One run's shared state: the bounds, the retry policy, the counters, the cache."""

    def __init__(self, llm: MetadataLLM, cache: ContentCache, run: ExtractionRun, limits: dict[str, Any]) -> None:
        self.llm, self.cache, self.run = llm, cache, run
        self.namespace = f"{getattr(llm, 'cache_scope', llm.model)}|{llm.prompt_version}"
        self.slots = asyncio.Semaphore(limits.pop("concurrency"))
        self.gate = LLMGate(limits.pop("rpm"))  # a refused key stops the run's requests; one rpm across processes
        self.retry = limits
        self.in_flight = 0

    async def _attempt(self, text: str) -> tuple[ExtractionOutput, float]:
        async with self.slots:  # held for the request only, never across a backoff sleep
            await self.gate.wait()
            self.run.calls += 1
            self.in_flight += 1
            self.run.peak_in_flight = max(self.run.peak_in_flight, self.in_flight)
            started = time.monotonic()
            try:
                output = await self.llm.extract(text)
            except ExtractionFailed as exc:
                self.run.input_tokens += exc.input_tokens
                self.run.output_tokens += exc.output_tokens
                raise
            except Exception as exc:
                self.gate.refusals.record(exc)
                raise
            finally:
                self.in_flight -= 1
            self.run.input_tokens += output.input_tokens
            self.run.output_tokens += output.output_tokens
            return output, time.monotonic() - started

    async def known(self, digests: list[str], shared: SharedExtractions | None) -> dict[str, Outcome]:
        """Readable outcomes of these texts from the local cache, then from `shared` (the lake), which
        fills the local cache too."""
        found = await asyncio.to_thread(self.cache.get_many, self.namespace, digests)
        if shared is not None and (wanted := sorted(set(digests) - set(found))):
            from_lake = await asyncio.to_thread(shared, wanted)
            await asyncio.to_thread(self.cache.put_many, self.namespace, from_lake)
            found.update(from_lake)
        return {sha: o for sha, value in found.items() if (o := decode(value)) is not None}

    async def outcome(self, sha: str, text: str) -> Outcome:
        attempts = 0

        async def attempt() -> tuple[ExtractionOutput, float]:
            nonlocal attempts
            attempts += 1
            return await self._attempt(text)

        try:
            output, latency = await async_retrying(**self.retry)(attempt)
        except Exception as exc:  # every passage lands: failures become records, never raise
            # Our own errors are already one redacted line; anything else is described and redacted here.
            reason = one_line(str(exc)) if isinstance(exc, PaperlakeError) else describe_error(exc)
            tries = f" (after {attempts} attempts)" if attempts > 1 else ""
            return Outcome(None, f"{reason}{tries}", 0.0, datetime.now(timezone.utc))
        outcome = Outcome(output, "", latency, datetime.now(timezone.utc))
        await self._store(sha, outcome)
        return outcome

    async def _store(self, sha: str, outcome: Outcome) -> None:
        """Each success is written at once (a crash later keeps it); only successes are written."""
        assert outcome.output is not None
        value = encode(outcome.output, outcome.latency_s, outcome.created_at)
        try:
            await asyncio.to_thread(self.cache.put_many, self.namespace, {sha: value})
        except (sqlite3.Error, OSError) as exc:  # the output is good; it just costs a call next time
            log.warning("could not cache an extraction (%s): %s", self.namespace, describe_error(exc))


async def extract_passages(
    passages: Sequence[ParentPassage],
    llm: MetadataLLM,
    cache: ContentCache,
    *,
    concurrency: int = 16,
    rpm: int | None = None,
    max_attempts: int = 5,
    retry_after_cap: float = 120.0,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    on_progress: Progress | None = None,
    shared: SharedExtractions | None = None,
) -> ExtractionRun:
    """One record per passage, in input order; each distinct text is extracted at most once per run.

    Texts missing from `cache` are looked up in `shared` (the lake) before any call."""
    started = time.monotonic()
    run = ExtractionRun(model=llm.model, prompt_version=llm.prompt_version)
    limits = {"concurrency": concurrency, "rpm": rpm, "max_attempts": max_attempts,
              "retry_after_cap": retry_after_cap, "base_delay": base_delay, "max_delay": max_delay}  # fmt: skip
    extractor = _Extractor(llm, cache, run, limits)
    texts = {p.text_sha256: p.text for p in passages}
    uses = Counter(p.text_sha256 for p in passages)
    outcomes = await extractor.known(list(texts), shared)
    run.cache_hits, done = len(outcomes), sum(uses[sha] for sha in outcomes)
    if on_progress:
        on_progress(done, len(passages))

    async def settle(sha: str) -> None:
        nonlocal done
        outcomes[sha] = await extractor.outcome(sha, texts[sha])
        done += uses[sha]
        if on_progress:
            on_progress(done, len(passages))

    try:
        await asyncio.gather(*(settle(sha) for sha in texts if sha not in outcomes))
    finally:
        await llm.aclose()
    run.records = [_record(p, run, outcomes[p.text_sha256]) for p in passages]
    _finish(run, started)
    return run


def _finish(run: ExtractionRun, started: float) -> None:
    failed = [r for r in run.records if r.status == "failed"]
    run.failures = len(failed)
    not_sent = [r for r in failed if r.error.startswith(NOT_SENT)]
    for record in failed:
        if not record.error.startswith(NOT_SENT):
            log.warning("extraction failed for %s (%s): %s", record.parent_id, run.model, record.error)
    if not_sent:  # one line, not one per parent: they all share the reason
        log.warning("extraction failed for %d parents (%s): %s", len(not_sent), run.model, not_sent[0].error)
    run.seconds = round(time.monotonic() - started, 3)


def run_extraction(
    passages: Sequence[ParentPassage], llm: MetadataLLM, cache: ContentCache, **options: Any
) -> ExtractionRun:
    """`extract_passages` from sync code, whether or not this thread already runs an event loop."""
    return run_sync(lambda: extract_passages(passages, llm, cache, **options))


def extract_with_settings(
    passages: Sequence[ParentPassage],
    settings: Settings,
    cache: ContentCache,
    on_progress: Progress | None = None,
    lake: Lake | None = None,
) -> ExtractionRun:
    """The configured model with the configured bounds; what the flow and the CLI call.

    With `lake`, its stored extractions serve as a cache shared by every process and machine."""
    llm = make_metadata_llm(settings)
    shared = None
    # The lake names each extraction's model and prompt version, one meaning per model name in a lake (as
    # for its vectors): what it holds for them serves every process, whichever server answered then.
    if lake is not None:

        def shared(digests: list[str]) -> dict[str, bytes]:
            papers = sorted({passage.paper_id for passage in passages})
            found = lake.find_extractions(llm.model, llm.prompt_version, digests, papers)
            return {sha: encode_stored(kinds) for sha, kinds in found.items()}

    return run_extraction(
        passages,
        llm,
        cache,
        shared=shared,
        concurrency=settings.llm_concurrency,
        rpm=settings.llm_rpm,
        max_attempts=settings.llm_max_attempts,
        retry_after_cap=settings.retry_after_cap,
        on_progress=on_progress,
    )


# ---- Prefect -----------------------------------------------------------------------------------
@task(name="extract-passages", cache_policy=NO_CACHE)
def extract_passages_task(passages: list[ParentPassage], settings: Settings) -> ExtractionRun:
    """Prefect's own retries stay off: per-request retries happen inside, failures are records."""
    from tasks.ingest import ingest_context
    from tasks.report import RunProgress

    progress = RunProgress("extract", len(passages), key="extract-progress")
    cache = ContentCache(settings.data_dir / "cache" / "extractions.sqlite")
    try:
        return extract_with_settings(passages, settings, cache, on_progress=progress.moved_to, lake=ingest_context(settings).lake)
    finally:
        cache.close()
