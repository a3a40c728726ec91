"""`paperlake`: ingest papers, extract summaries and questions, and query the lake with SQL.

Quick commands (`sql`) import neither Prefect nor llama-index (2 s of imports together);
the flows are imported only by the commands that run them.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from pydantic import ValidationError

from paperlake.errors import PaperlakeError
from paperlake.settings import Settings, load_settings


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.replace(",", " ").split()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paperlake", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="ingest arXiv ids or local PDF files/folders")
    ingest.add_argument("refs", nargs="+", metavar="ID|PATH", help="2307.09288, hep-th/9901001v1, paper.pdf, folder/")
    ingest.add_argument("--force", action="store_true", help="re-download and re-process papers already in the lake")
    ingest.add_argument("--extract", action="store_true", help="then extract summaries and questions")
    ingest.add_argument("--parent-chunk-size", type=int, default=1024)
    ingest.add_argument("--child-chunk-sizes", type=_sizes, default=[128, 256, 512], help="e.g. 128,256,512")
    ingest.add_argument("--child-chunk-overlap", type=int, default=20)

    extract = commands.add_parser("extract", help="summaries and questions for papers in the lake")
    extract.add_argument("paper_ids", nargs="*", metavar="ID", help="default: every paper in the lake")

    sql = commands.add_parser("sql", help="run a SQL query over the lake's tables and print the result")
    sql.add_argument("query")
    sql.add_argument("--max-rows", type=int, default=40)
    return parser


def _quiet_prefect() -> None:
    # The CLI shows its own progress bar and summary; Prefect's INFO lines would tear the bar.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")


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


def _progress_bar():
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def listener(stage: str, done: int, total: int, label: str) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="paper" if stage == "ingest" else "parent", file=sys.stderr)
        bar.n = done
        bar.set_postfix_str(label, refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()

    return listener


def _print_reports(reports: Sequence[object]) -> None:
    from tasks.report import report_rows

    rows = report_rows(reports)  # type: ignore[arg-type]
    if not rows:
        return
    columns = ["paper", "status", "pages", "nodes", "seconds", "reason"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns))


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from paperlake.ids import resolve_refs

    settings.check_providers(llm=args.extract)
    sources, _invalid = resolve_refs(args.refs)
    if any(s.source == "arxiv" for s in sources):
        try:
            check_arxiv_reachable(settings)
        except PaperlakeError as exc:
            if all(s.source == "arxiv" for s in sources):
                raise  # nothing could land: say so in seconds
            # Local PDFs still land; the arXiv papers fail, each with its reason.
            print(f"paperlake: warning: {exc}", file=sys.stderr)
    _quiet_prefect()
    from flows.ingest_arxiv import ingest_arxiv
    from paperlake import progress
    from paperlake.runs import run_here

    with progress.listening(_progress_bar()):
        state = run_here(
            ingest_arxiv, args.refs, args.parent_chunk_size, args.child_chunk_sizes, args.child_chunk_overlap,
            force=args.force, extract=args.extract,
        )  # fmt: skip
    reports = state.result(raise_on_failure=False)
    _print_reports(reports if isinstance(reports, list) else [])
    print(state.message or state.name, file=sys.stderr if state.is_failed() else sys.stdout)
    return 1 if state.is_failed() else 0


def cmd_extract(args: argparse.Namespace, settings: Settings) -> int:
    settings.check_providers(llm=True)
    _quiet_prefect()
    from flows.extract_metadata import extract_metadata
    from paperlake import progress
    from paperlake.runs import run_here

    with progress.listening(_progress_bar()):
        state = run_here(extract_metadata, args.paper_ids or None)
    run = state.result(raise_on_failure=False)
    if hasattr(run, "summary_row"):
        print("  ".join(f"{key}={value}" for key, value in run.summary_row().items()))
    print(state.message or state.name, file=sys.stderr if state.is_failed() else sys.stdout)
    return 1 if state.is_failed() else 0


def cmd_sql(args: argparse.Namespace, settings: Settings) -> int:
    import duckdb

    from storage.catalog import connect

    with connect(settings.data_dir) as conn:
        try:
            relation = conn.sql(args.query)
        except duckdb.Error as exc:  # the user's SQL: one line back, not a traceback
            raise PaperlakeError(str(exc).splitlines()[0]) from None
        if relation is not None:  # None: a statement without a result
            relation.show(max_rows=args.max_rows, max_width=200)
    return 0


COMMANDS = {"ingest": cmd_ingest, "extract": cmd_extract, "sql": cmd_sql}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return COMMANDS[args.command](args, settings)
    except ValidationError as exc:  # a PAPERLAKE_* variable that does not parse
        problems = "; ".join(f"PAPERLAKE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        print(f"paperlake: invalid setting: {problems}", file=sys.stderr)
        return 2
    except PaperlakeError as exc:
        print(f"paperlake: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
