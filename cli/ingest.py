"""`paperlake ingest` and `paperlake extract`: run the flows inside this process."""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

from cli.common import end_of_run, print_table, progress_bar
from cli.prefect_api import connect_prefect
from paperlake.errors import PaperlakeError
from paperlake.settings import Settings


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.replace(",", " ").split()]


def register(commands: Any) -> None:
    ingest = commands.add_parser("ingest", help="ingest arXiv ids or local PDF files/folders")
    ingest.add_argument("refs", nargs="+", metavar="ID|PATH", help="2307.09288, hep-th/9901001v1, paper.pdf, folder/")
    ingest.add_argument("--force", action="store_true", help="re-download and re-process papers already in the lake")
    ingest.add_argument("--extract", action="store_true", help="then extract summaries and questions")
    ingest.add_argument("--parent-chunk-size", type=int, default=1024)
    ingest.add_argument("--child-chunk-sizes", type=_sizes, default=[128, 256, 512], help="e.g. 128,256,512")
    ingest.add_argument("--child-chunk-overlap", type=int, default=20)
    ingest.set_defaults(handler=cmd_ingest)

    extract = commands.add_parser("extract", help="summaries and questions for papers in the lake")
    extract.add_argument("paper_ids", nargs="*", metavar="ID", help="default: every paper in the lake")
    extract.set_defaults(handler=cmd_extract)


def check_arxiv_reachable(settings: Settings, timeout_s: float = 5.0) -> None:
    """Fail in seconds, naming the setting, when there is no route to arXiv at all."""
    parts = urlsplit(settings.arxiv_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout_s):
            return
    except OSError as exc:
        raise PaperlakeError(
            f"cannot reach arXiv at {settings.arxiv_url} ({exc}). Check the network, or set "
            "PAPERLAKE_ARXIV_URL to a reachable arXiv export host or mirror."
        ) from exc


def print_reports(reports: Any) -> None:
    from tasks.report import report_rows

    rows = report_rows(reports if isinstance(reports, list) else [])
    print_table(rows, ["paper", "status", "pages", "nodes", "seconds", "reason"])


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from paperlake.ids import resolve_refs

    settings.check_providers(llm=args.extract)
    sources, invalid = resolve_refs(args.refs)
    if not sources:  # before Prefect and the lake: nothing would land
        raise PaperlakeError("nothing to ingest: " + "; ".join(str(error) for error in invalid))
    if any(s.source == "arxiv" for s in sources):
        try:
            check_arxiv_reachable(settings)
        except PaperlakeError as exc:
            if all(s.source == "arxiv" for s in sources):
                raise  # nothing could land: say so in seconds
            # Local PDFs still land; the arXiv papers fail, each with its reason.
            print(f"paperlake: warning: {exc}", file=sys.stderr)
    connect_prefect()
    from flows.ingest_arxiv import ingest_arxiv
    from paperlake import progress
    from paperlake.runs import run_here

    with progress.listening(progress_bar()):
        state = run_here(
            ingest_arxiv, args.refs, args.parent_chunk_size, args.child_chunk_sizes, args.child_chunk_overlap,
            force=args.force, extract=args.extract,
        )  # fmt: skip
    print_reports(state.result(raise_on_failure=False))
    return end_of_run(state)


def cmd_extract(args: argparse.Namespace, settings: Settings) -> int:
    from storage.lakehouse import lake_exists, no_lake_error

    if not lake_exists(settings.data_dir):  # say so in a line, before Prefect starts for nothing
        raise no_lake_error(settings.data_dir)
    settings.check_providers(llm=True)
    connect_prefect()
    from flows.extract_metadata import extract_metadata
    from paperlake import progress
    from paperlake.runs import run_here

    with progress.listening(progress_bar()):
        state = run_here(extract_metadata, args.paper_ids or None)
    run = state.result(raise_on_failure=False)
    if hasattr(run, "summary_row"):
        print("  ".join(f"{key}={value}" for key, value in run.summary_row().items()))
    return end_of_run(state)
