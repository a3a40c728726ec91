"""From extraction records to the lake: summary and question nodes that point at their parent,
embedded like every other node, and one `extractions` row per parent and kind."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from prefect import task
from prefect.cache_policies import NO_CACHE

from paperlake.errors import PaperError
from paperlake.models import Node, PaperReport, summary_and_question_nodes
from paperlake.redact import describe_error
from paperlake.settings import Settings
from storage.lake import DERIVED_KINDS
from storage.lakehouse import no_lake_error
from tasks.extract import ExtractionRecord, ParentPassage
from tasks.ingest import IngestContext, embed_nodes, ingest_context

log = logging.getLogger(__name__)


def collect_passages(settings: Settings, paper_ids: list[str] | None) -> tuple[list[ParentPassage], list[PaperReport]]:
    """Parent passages of the requested papers (default: every good paper), and the papers that have none."""
    lake = ingest_context(settings).lake
    if paper_ids is None and not lake.house.exists():  # "every paper" of no lake: say there is none, not "0 parents"
        raise no_lake_error(settings.data_dir)
    rows = {row["paper_id"]: row for row in lake.list_papers()}
    wanted = paper_ids if paper_ids is not None else [pid for pid, row in rows.items() if row["status"] == "ok"]
    passages: list[ParentPassage] = []
    missing: list[PaperReport] = []
    for pid in dict.fromkeys(wanted):
        row = rows.get(pid)
        if row is None or row["status"] != "ok":
            why = "not in the lake" if row is None else f"ingest failed: {row['error']}"
            missing.append(PaperReport(pid, "failed", reason=f"not_ingested: {why}"))
            continue
        passages += [ParentPassage.of(n) for n in lake.read_nodes(pid) if n.kind == "parent"]
    return passages, missing


def derived_nodes(parent: Node, record: ExtractionRecord) -> list[Node]:
    """The summary and each question as nodes of their own, ids stable across runs."""
    return summary_and_question_nodes(parent, record.summary, record.questions)


def extraction_rows(record: ExtractionRecord) -> list[dict]:
    """Two rows per parent: its summary and its questions (one per line). Tokens and latency belong to
    the single call that produced both, so they are recorded once, on the summary row."""
    base = {
        "parent_id": record.parent_id, "paper_id": record.paper_id, "model": record.model,
        "prompt_version": record.prompt_version, "status": record.status, "error": record.error or None,
        "created_at": record.created_at,
    }  # fmt: skip
    summary = {**base, "kind": "summary", "text": record.summary, "input_tokens": record.input_tokens,
               "output_tokens": record.output_tokens, "latency_s": record.latency_s}  # fmt: skip
    questions = {**base, "kind": "questions", "text": "\n".join(record.questions), "input_tokens": 0,
                 "output_tokens": 0, "latency_s": 0.0}  # fmt: skip
    return [summary, questions]


def merge_derived_nodes(current: list[Node], records: dict[str, ExtractionRecord]) -> list[Node]:
    """Current nodes with the derived nodes of every parent in `records` replaced by this run's.

    A parent whose extraction failed this run has none, matching its `failed` rows: an earlier
    summary cannot stay without the rows that say which model and prompt wrote it. (A failure
    only happens for text not in the cache, i.e. a new text, model or prompt.)"""
    ok = {pid for pid, r in records.items() if r.status == "ok"}
    kept = [n for n in current if not (n.kind in DERIVED_KINDS and n.parent_id in records)]
    fresh = [d for n in current if n.kind == "parent" and n.node_id in ok for d in derived_nodes(n, records[n.node_id])]
    return kept + fresh


def merge_extraction_rows(current: list[dict], records: Iterable[ExtractionRecord]) -> list[dict]:
    records = list(records)
    replaced = {r.parent_id for r in records}
    return [row for row in current if row["parent_id"] not in replaced] + [x for r in records for x in extraction_rows(r)]


def _require_same_embed_model(row: dict | None, paper_id: str, settings: Settings) -> dict:
    """New nodes must share the paper's vector space: refuse to mix embedding models in one paper."""
    ingested_with = json.loads(row["ingest_config"] or "{}").get("embed_model") if row else None
    if row is None or ingested_with != settings.embed_model:
        raise PaperError(paper_id, "embed_model_changed", f"ingested with {ingested_with}, now "
                         f"{settings.embed_model}: re-ingest with --force or set PAPERLAKE_EMBED_MODEL={ingested_with}")  # fmt: skip
    return row


def write_extractions(settings: Settings, paper_id: str, records: list[ExtractionRecord]) -> PaperReport:
    """Merge one paper's extraction records into its nodes, embeddings and `extractions` rows."""
    ctx: IngestContext = ingest_context(settings)
    failed = sum(r.status == "failed" for r in records)
    try:
        with ctx.lake.paper_lock(paper_id):
            row = _require_same_embed_model(ctx.lake.read_paper(paper_id), paper_id, settings)
            nodes = merge_derived_nodes(ctx.lake.read_nodes(paper_id), {r.parent_id: r for r in records})
            vectors, stats = embed_nodes(nodes, ctx)
            rows = merge_extraction_rows(ctx.lake.read_extractions(paper_id), records)
            ctx.lake.write_paper(row, nodes, vectors, ctx.embedder.model, extractions=rows)
    except PaperError as exc:
        return PaperReport(paper_id, "failed", reason=exc.one_line)
    except Exception as exc:  # e.g. the disk: this paper fails, the run goes on
        log.exception("could not write extractions of %s", paper_id)
        return PaperReport(paper_id, "failed", reason=PaperError(paper_id, "write_failed", describe_error(exc)).one_line)
    first = next((r.error for r in records if r.status == "failed"), "")
    reason = f"{failed} of {len(records)} parents failed extraction ({first})" if failed else ""
    return PaperReport(paper_id, "failed" if failed else "ok", row["n_pages"], len(nodes), reason=reason,
                       title=row["title"] or "", embed_calls=stats.calls)  # fmt: skip


def records_by_paper(records: list[ExtractionRecord]) -> dict[str, list[ExtractionRecord]]:
    grouped: dict[str, list[ExtractionRecord]] = {}
    for record in records:
        grouped.setdefault(record.paper_id, []).append(record)
    return grouped


@task(name="collect-parents", cache_policy=NO_CACHE)
def collect_passages_task(settings: Settings, paper_ids: list[str] | None) -> tuple[list[ParentPassage], list[PaperReport]]:
    return collect_passages(settings, paper_ids)


@task(name="write-extractions", task_run_name="write-extractions-{paper_id}", cache_policy=NO_CACHE)
def write_extractions_task(settings: Settings, paper_id: str, records: list[ExtractionRecord]) -> PaperReport:
    return write_extractions(settings, paper_id, records)
