"""`paperlake query`: the lake's passages for a question, by one strategy or all of them side by side.

Imports neither Prefect nor llama-index (storage.search loads neither): a one-shot query is quick.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from paperlake.errors import PaperlakeError
from paperlake.settings import Settings
from paperlake.strategies import DEFAULT_FUSION, DEFAULT_STRATEGY, FUSIONS, STRATEGIES

_FIRST_LINE = 70  # characters of a passage shown in the table


def register(commands: Any) -> None:
    query = commands.add_parser("query", help="search the lake's passages (parents) for a question")
    query.add_argument("query", nargs="?", help="the question (or use --queries-file)")
    query.add_argument("--strategy", choices=[*STRATEGIES, "all"], default=DEFAULT_STRATEGY,
                       help=f"default: {DEFAULT_STRATEGY}, the best on the dev set; all: the strategies side by side")  # fmt: skip
    query.add_argument("-k", type=int, default=5, help="passages per query and strategy")
    query.add_argument("--fusion", choices=FUSIONS, default=DEFAULT_FUSION,
                       help="how hybrid fuses its rankings: relative (scaled scores summed; the default, best on the "
                            "dev set) or rrf (reciprocal rank fusion, k=60)")  # fmt: skip
    query.add_argument("--paper", action="append", dest="papers", metavar="ID", help="only this paper (repeatable)")
    query.add_argument("--json", action="store_true", help="one JSON object per line and result")
    query.add_argument("--queries-file", type=Path, help="one query a line; start-up is paid once")
    query.set_defaults(handler=cmd_query)


def _queries(args: argparse.Namespace) -> list[str]:
    if args.queries_file is not None and args.query is not None:
        raise PaperlakeError("give a query or --queries-file, not both")
    if args.queries_file is not None:
        try:
            lines = args.queries_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise PaperlakeError(f"cannot read --queries-file {args.queries_file}: {exc.strerror}") from None
        queries = [line.strip() for line in lines if line.strip()]
        if not queries:
            raise PaperlakeError(f"--queries-file {args.queries_file} holds no query")
        return queries
    if args.query is None:
        raise PaperlakeError("empty query: give some text to search for (or --queries-file)")
    return [args.query]


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    from storage.search import Searcher

    queries = _queries(args)
    strategies = list(STRATEGIES) if args.strategy == "all" else [args.strategy]
    with Searcher(settings) as searcher:
        answers = {s: searcher.search_many(queries, s, args.k, args.papers, args.fusion) for s in strategies}
    for i, query in enumerate(queries):
        if len(strategies) > 1 and not args.json:
            _print_side_by_side(query, {s: answers[s][i] for s in strategies})
            continue
        for strategy in strategies:
            results = answers[strategy][i]
            if args.json:
                sys.stdout.write("".join(json.dumps(r.as_json(), ensure_ascii=False) + "\n" for r in results))
            else:
                _print_table(query, strategy, results)
    return 0


def _first_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _FIRST_LINE else line[: _FIRST_LINE - 1] + "…"


def _pages(result: Any) -> str:
    return f"{result.page_start}-{result.page_end}" if result.page_start != result.page_end else str(result.page_start)


def _print_side_by_side(query: str, by_strategy: dict[str, list]) -> None:
    """One column per strategy, one row per rank; each passage gets a letter, so shared finds show at a glance."""
    from cli.common import print_table

    depth = max(map(len, by_strategy.values()), default=0)
    letters: dict[str, Any] = {}  # node_id -> its result, in order of first appearance, rank by rank
    for rank in range(depth):
        for results in by_strategy.values():
            if rank < len(results):
                letters.setdefault(results[rank].node_id, results[rank])
    label = {node_id: chr(ord("A") + i) if i < 26 else str(i + 1) for i, node_id in enumerate(letters)}
    print(f"\n{' | '.join(by_strategy)}: {query}")
    rows = [{"rank": rank + 1, **{s: (f"[{label[r[rank].node_id]}] p.{_pages(r[rank])} {r[rank].score:.3f}" if rank < len(r) else "")
                                  for s, r in by_strategy.items()}} for rank in range(depth)]  # fmt: skip
    print_table(rows, ["rank", *by_strategy])
    for node_id, result in letters.items():
        print(f"[{label[node_id]}] {result.paper_id} {_first_line(result.title or '')[:40]} p.{_pages(result)}: {_first_line(result.text)}")


def _print_table(query: str, strategy: str, results: list) -> None:
    from cli.common import print_table

    print(f"\n{strategy}: {query}")
    if not results:
        print("  (no passage)")
        return
    rows = [{"rank": r.rank, "paper": r.paper_id, "title": _first_line(r.title or "")[:40],
             "pages": _pages(r),
             "score": f"{r.score:.4f}", "matched": r.matched_kind, "first line": _first_line(r.text)}
            for r in results]  # fmt: skip
    print_table(rows, ["rank", "paper", "title", "pages", "score", "matched", "first line"])
