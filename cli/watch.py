"""`paperlake watch` (arXiv's newest papers into the lake, in this process) and `paperlake limits`."""

from __future__ import annotations

import argparse
from typing import Any

from cli.common import end_of_run, print_table, progress_bar, quiet_prefect
from cli.ingest import check_arxiv_reachable, print_reports
from cli.prefect_api import connect_prefect
from paperlake.errors import PaperlakeError
from paperlake.settings import Settings


def register(commands: Any) -> None:
    watch = commands.add_parser("watch", help="ingest arXiv's newest submissions in some categories that the lake lacks")
    watch.add_argument("--category", action="append", metavar="C", help="an arXiv category, repeatable (default: cs.CL)")
    watch.add_argument("--max", type=int, default=20, metavar="N", help="newest submissions looked at, at most (default: 20)")
    watch.add_argument("--no-extract", dest="extract", action="store_false", help="skip summaries and questions")
    watch.set_defaults(handler=cmd_watch)

    limits = commands.add_parser("limits", help="create or update the Prefect rate limits shared by all runs and show them")
    limits.set_defaults(handler=cmd_limits)


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    from paperlake.ids import check_search

    categories = check_search(args.category or ["cs.CL"], args.max)
    settings.check_providers(llm=args.extract)
    check_arxiv_reachable(settings)
    connect_prefect()
    from flows.watch_arxiv import watch_arxiv
    from paperlake import progress
    from paperlake.runs import run_here

    with progress.listening(progress_bar()):
        state = run_here(watch_arxiv, categories, args.max, extract=args.extract)
    print_reports(state.result(raise_on_failure=False))
    return end_of_run(state)


def cmd_limits(args: argparse.Namespace, settings: Settings) -> int:
    """The limits `arxiv` (PAPERLAKE_ARXIV_DELAY) and `llm` (PAPERLAKE_LLM_RPM) on the configured server."""
    quiet_prefect()
    from paperlake.shared_rate import ARXIV, LLM, configured_api_url, ensure_limit, read_limit

    url = configured_api_url(load_prefect=True)
    if url is None:
        raise PaperlakeError("no Prefect server configured (PREFECT_API_URL): each run spaces its own requests")
    wanted = {ARXIV: (settings.arxiv_delay, "PAPERLAKE_ARXIV_DELAY"),
              LLM: (60.0 / settings.llm_rpm if settings.llm_rpm else 0.0, "PAPERLAKE_LLM_RPM")}  # fmt: skip
    rows = []
    for name, (interval, variable) in wanted.items():
        if interval > 0:
            ensure_limit(name, interval)
        rows.append({"limit": name, "seconds_between_requests": round(interval, 3) or "-", "from": variable,
                     "on_server": read_limit(name) or "none (no limit)"})  # fmt: skip
    print(f"Prefect server: {url}")
    print_table(rows, ["limit", "seconds_between_requests", "from", "on_server"])
    return 0
