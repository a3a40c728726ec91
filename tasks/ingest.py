"""One paper, start to finish: PDF, text, nodes, embeddings, one lake commit. One Prefect task per paper.

Tasks are per paper, not per node: Prefect costs milliseconds per task run. Any failure of
one paper becomes a `failed` row naming the reason; it never reaches the other papers, and never
leaves half of a paper in the lake: everything of a paper commits in one transaction.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from paperlake.embedders import Embedder, embed_prefixes, make_embedder
from paperlake.errors import PaperError
from paperlake.files import file_sha256
from paperlake.models import ArxivMetadata, Node, PaperReport, PaperSource, ParsedPdf, summary_and_question_nodes
from paperlake.redact import describe_error
from paperlake.settings import Settings
from storage.cache import ContentCache
from storage.lake import Lake
from tasks.chunk import INGEST_PRELOAD, ChunkingOptions, parse_and_chunk
from tasks.embed import EmbedStats, embed_texts
from tasks.fetch import ArxivClient
from tasks.parse import TEXT_VERSION, run_parser

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOptions:
    chunking: ChunkingOptions = field(default_factory=ChunkingOptions)
    force: bool = False

    def config_json(self, settings: Settings) -> str:
        """What shapes a paper's nodes and vectors: a paper ingested under another config is redone."""
        config = {**asdict(self.chunking), "pdf_engine": settings.pdf_engine, "embed_model": settings.embed_model,
                  "text_version": TEXT_VERSION}  # fmt: skip
        document_prefix = "" if settings.embed_is_local else embed_prefixes(settings)[1]
        if document_prefix:  # the prefix changes the vectors; absent when empty, so older configs stay equal
            config["embed_document_prefix"] = document_prefix
        return json.dumps(config, sort_keys=True)


class IngestContext:
    """Per-process resources shared by every paper of a run (and by later runs in a worker)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lake = Lake(settings.data_dir)
        self.embed_cache = ContentCache(settings.data_dir / "cache" / "embeddings.sqlite")
        self._embedder: Embedder | None = None
        self._embedder_lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        # Locked: papers start at once on worker threads, and one embedder (its client, its count of
        # refusals) must serve them all.
        with self._embedder_lock:
            if self._embedder is None:  # loaded on first need: a warm re-run never pays for it
                self._embedder = make_embedder(self.settings)
            return self._embedder

    def arxiv_client(self) -> ArxivClient:
        return ArxivClient.from_settings(self.settings)


_CONTEXTS_LOCK = threading.Lock()


def ingest_context(settings: Settings) -> IngestContext:
    """One context per distinct settings in a process (Settings is frozen, so hashable). Locked: worker
    threads ask at once, and two contexts would mean two handles racing to create the same lake."""
    with _CONTEXTS_LOCK:
        return _ingest_context(settings)


@lru_cache(maxsize=4)
def _ingest_context(settings: Settings) -> IngestContext:
    return IngestContext(settings)


def _obtain_pdf(source: PaperSource, version: str | None, ctx: IngestContext, force: bool) -> tuple[Path, str]:
    if source.source == "local":
        assert source.path is not None
        if source.path.stat().st_size > ctx.settings.max_pdf_bytes:
            raise PaperError(source.paper_id, "too_large", f"{source.path.name} is over PAPERLAKE_MAX_PDF_MB")
        return source.path, file_sha256(source.path)
    dest = ctx.lake.pdf_path(source.paper_id, version)
    if force or not dest.exists():  # files appear only whole (atomic rename), so existing means complete
        with ctx.arxiv_client() as client:
            sha, _ = client.download_pdf(source.paper_id, version, dest)
        return dest, sha
    return dest, file_sha256(dest)


def _paper_row(source: PaperSource, meta: ArxivMetadata | None, version: str | None, config: str) -> dict:
    return {
        "paper_id": source.paper_id,
        "source": source.source,
        "title": meta.title if meta else None,
        "authors": meta.authors if meta else [],
        "abstract": meta.abstract if meta else None,
        "categories": meta.categories if meta else [],
        "published": meta.published if meta else None,
        "pdf_sha256": None,
        "n_pages": 0,
        "n_chars": 0,
        "status": "ok",
        "error": None,
        "ingested_at": datetime.now(timezone.utc),
        "version": version,
        "ingest_config": config,
    }


def _local_title(parsed: ParsedPdf) -> str | None:
    if parsed.title:
        return parsed.title
    first_page = parsed.pages[0] if parsed.pages else ""
    return next((line.strip() for line in first_page.splitlines() if line.strip()), None)


def _is_current(previous: dict | None, version: str | None, config: str) -> bool:
    return bool(previous) and previous["status"] == "ok" and previous["version"] == version and previous["ingest_config"] == config


def skipped_report(previous: dict) -> PaperReport:
    return PaperReport(previous["paper_id"], "skipped", previous["n_pages"], title=previous["title"] or "", reason="already in the lake")


def _ingest_locked(source: PaperSource, meta: ArxivMetadata | None, options: IngestOptions, ctx: IngestContext) -> PaperReport:
    s, pid = ctx.settings, source.paper_id
    config = options.config_json(s)
    version = source.requested_version or (meta.version if meta else None)
    previous = ctx.lake.read_paper(pid)
    if not options.force and _is_current(previous, version, config):
        return skipped_report(previous)
    pdf_path, pdf_sha = _obtain_pdf(source, version, ctx, options.force)
    parsed, nodes = run_parser(
        parse_and_chunk, pdf_path, pid, s.pdf_engine, s.max_pages, options.chunking,
        paper_id=pid, timeout_s=s.parse_timeout, memory_mb=s.parse_memory_mb, preload=INGEST_PRELOAD,
    )  # fmt: skip
    derived, extraction_rows = [], []
    if previous is not None:  # a new paper has nothing to carry over: two lake reads saved
        derived, extraction_rows = carry_over_extractions(nodes, ctx.lake.read_nodes(pid), ctx.lake.read_extractions(pid))
    nodes += derived
    vectors, stats = embed_nodes(nodes, ctx, in_lake=previous is not None)
    row = _paper_row(source, meta, version, config)
    row.update(pdf_sha256=pdf_sha, n_pages=parsed.n_pages, n_chars=parsed.n_chars)
    if source.source == "local":
        row["title"] = _local_title(parsed)
    try:
        ctx.lake.write_paper(row, nodes, vectors, ctx.embedder.model, extractions=extraction_rows, new=previous is None)
    except Exception as exc:  # nothing of this commit is visible: the lake keeps the paper's previous version
        raise PaperError(pid, "write_failed", describe_error(exc)) from exc
    return PaperReport(pid, "ok", parsed.n_pages, len(nodes), title=row["title"] or "", embed_calls=stats.calls)


def carry_over_extractions(nodes: list[Node], old_nodes: list[Node], old_rows: list[dict]) -> tuple[list[Node], list[dict]]:
    """Summary and question nodes, and extraction rows, of every new parent whose text an old parent had.

    Re-chunking shifts positions and so parent ids; the extraction belongs to the text, which the
    lake already holds, so it follows the text to its new parent without a call."""
    old_sha = {n.node_id: n.text_sha256 for n in old_nodes if n.kind == "parent"}
    by_sha: dict[str, dict[str, dict]] = {}
    for row in old_rows:
        if row["parent_id"] in old_sha:
            by_sha.setdefault(old_sha[row["parent_id"]], {})[row["kind"]] = row
    derived: list[Node] = []
    rows: list[dict] = []
    for parent in (n for n in nodes if n.kind == "parent"):
        kinds = by_sha.get(parent.text_sha256, {})
        rows += [{**kinds[kind], "parent_id": parent.node_id} for kind in ("summary", "questions") if kind in kinds]
        if all(kinds.get(kind, {}).get("status") == "ok" for kind in ("summary", "questions")):
            derived += summary_and_question_nodes(parent, kinds["summary"]["text"], kinds["questions"]["text"].split("\n"))
    return derived, rows


def embed_nodes(nodes: list[Node], ctx: IngestContext, *, in_lake: bool = True) -> tuple[np.ndarray, EmbedStats]:
    """Vectors of `nodes`, from the local cache, the lake or the model. `in_lake=False`: the lake holds
    no row of these papers (read under their locks), so its lookup, scoped to them, is skipped."""
    embedder, prefix = ctx.embedder, getattr(ctx.embedder, "document_prefix", "")
    # A lake holds one vector space per model name (its searches rank by `model`), so its vectors of this
    # model and document prefix are this embedder's, whichever machine or server computed them.
    papers = sorted({node.paper_id for node in nodes})

    def shared(digests: list[str]) -> dict[str, bytes]:
        return ctx.lake.find_vectors(embedder.model, digests, papers, document_prefix=prefix)

    try:
        return embed_texts([n.text for n in nodes], [n.text_sha256 for n in nodes], embedder, ctx.embed_cache,
                           shared if in_lake else None)  # fmt: skip
    except PaperError:
        raise
    except Exception as exc:  # a provider outage fails this paper, with the provider's words
        raise PaperError(nodes[0].paper_id if nodes else "", "embed_failed", describe_error(exc)) from exc


def stored_is_current(source: PaperSource, meta: object, stored: dict | None, options: IngestOptions, settings: Settings) -> bool:
    version = source.requested_version or (meta.version if isinstance(meta, ArxivMetadata) else None)
    return stored is not None and not options.force and _is_current(stored, version, options.config_json(settings))


def ingest_paper(
    source: PaperSource, meta: ArxivMetadata | PaperError | None, options: IngestOptions, settings: Settings,
    stored: dict | None = None,
) -> PaperReport:  # fmt: skip
    """Ingest one paper; never raises: the report says what happened, so other papers go on.

    `stored`: the paper's committed row as `tasks.ingest_run.stored_papers` read it for the run. When
    it is already current, the paper is skipped with no lock and no lake read of its own (a warm run of
    N papers then costs one read, not N): committed state is whole, so it is safe to trust unlocked."""
    ctx, started = ingest_context(settings), time.monotonic()
    if stored_is_current(source, meta, stored, options, settings):
        assert stored is not None
        report = skipped_report(stored)
        report.seconds = round(time.monotonic() - started, 3)
        return report
    try:
        with ctx.lake.paper_lock(source.paper_id):
            ctx.lake.sweep_partial_files(source.paper_id)
            try:
                if isinstance(meta, PaperError):
                    raise meta
                report = _ingest_locked(source, meta, options, ctx)
            except Exception as exc:
                report = _record_failure(source, meta, exc, options, ctx)
    except Exception as exc:  # the lock, or recording the failure, failed: the lake could not be written
        log.exception("could not record %s", source.paper_id)
        report = PaperReport(source.paper_id, "failed", reason=PaperError(source.paper_id, "write_failed", describe_error(exc)).one_line)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _record_failure(source: PaperSource, meta: object, exc: Exception, options: IngestOptions, ctx: IngestContext) -> PaperReport:
    if not isinstance(exc, PaperError):
        log.exception("unexpected error ingesting %s", source.paper_id)
        exc = PaperError(source.paper_id, "internal_error", describe_error(exc))
    error = PaperError(source.paper_id, exc.reason, exc.detail)
    arxiv_meta = meta if isinstance(meta, ArxivMetadata) else None
    row = _paper_row(source, arxiv_meta, source.requested_version, options.config_json(ctx.settings))
    row.update(status="failed", error=error.one_line)
    kept = not ctx.lake.write_failure(row)
    log.warning("%s%s", error, " (the lake keeps its earlier good copy)" if kept else "")
    return PaperReport(source.paper_id, "failed", reason=error.one_line, title=row["title"] or "", extra={"kept_previous": kept})


@task(name="ingest-paper", task_run_name="ingest-{source.paper_id}", cache_policy=NO_CACHE)
def ingest_paper_task(
    source: PaperSource, meta: ArxivMetadata | PaperError | None, options: IngestOptions, settings: Settings,
    stored: dict | None = None,
) -> PaperReport:  # fmt: skip
    return ingest_paper(source, meta, options, settings, stored)
