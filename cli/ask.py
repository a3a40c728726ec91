"""`paperlake ask` and `paperlake chat`: answers from the lake's passages, with citations, then the sources.

Neither imports Prefect; llama-index only when an OpenAI model answers (tasks.answer loads neither).
`chat` reads standard input line by line, so it works in a terminal and from a pipe alike.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from paperlake.errors import ConfigError, PaperlakeError
from paperlake.settings import Settings
from paperlake.strategies import STRATEGIES

if TYPE_CHECKING:
    from tasks.answer import Answer, Answerer

EXTRACTIVE_LABEL = "Extractive answer (local-extractive: sentences quoted from the passages; no language model wrote it):"
EXIT_WORDS = ("exit", "quit")
_FIRST_LINE = 90  # characters of a source's first line


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--paper", action="append", dest="papers", metavar="ID", help="only this paper (repeatable)")
    parser.add_argument("--strategy", choices=STRATEGIES, default=None,
                        help="retrieval strategy; default: the best of the latest evaluation run (else hybrid)")  # fmt: skip
    parser.add_argument("-k", type=int, default=5, help="passages retrieved per question")
    parser.add_argument("--json", action="store_true", help="the answer as one JSON object (chat: one a line per turn)")


def register(commands: Any) -> None:
    ask = commands.add_parser("ask", help="answer a question from the lake's passages, with citations")
    ask.add_argument("question", nargs="?", help="the question")
    _options(ask)
    ask.set_defaults(handler=cmd_ask)
    chat = commands.add_parser("chat", help="ask questions in turn; follow-ups are read in the light of earlier turns")
    _options(chat)
    chat.set_defaults(handler=cmd_chat)


def _answerer(settings: Settings) -> Answerer:
    from tasks.answer import Answerer

    settings.check_providers(llm=True)  # a missing key is one line before the lake is even opened
    return Answerer(settings)


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    if args.question is None or not args.question.strip():
        raise PaperlakeError("empty question: give some text to ask")
    with _answerer(settings) as answerer:
        answer = answerer.answer(args.question, strategy=args.strategy, k=args.k, paper_ids=args.papers)
    print(json.dumps(answer.as_json(), ensure_ascii=False) if args.json else format_answer(answer))
    return 0


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= _FIRST_LINE else line[: _FIRST_LINE - 1].rstrip() + "…"


def format_answer(answer: Answer) -> str:
    """The answer with its citations, then every retrieved source (title, pages, first line); `*` marks those cited."""
    from paperlake.citations import Pages

    lines = [EXTRACTIVE_LABEL] if answer.extractive else []
    lines.append(answer.answer)
    if answer.dropped_citations:
        lines.append(f"(Dropped, as no retrieved passage matches them: {' '.join(answer.dropped_citations)})")
    cited = {c.node_id for c in answer.citations}
    lines += ["", f"Sources ({answer.strategy} retrieval, answered by {answer.model}; * cited):"]
    for source in answer.sources:
        mark = "*" if source.node_id in cited else " "
        where = Pages(source.paper_id, source.page_start, source.page_end).marker
        lines.append(f"{mark} {source.rank}. {where} {source.title or '(untitled)'}")
        lines.append(f"     {_first_line(source.text)}")
    return "\n".join(lines)


def _turns() -> Any:
    """Lines of standard input; with a terminal, after a prompt (input() gives line editing)."""
    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask about the papers in the lake; `exit`, `quit` or end of input (Ctrl-D) leaves.", file=sys.stderr)
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except EOFError:
            return
        if not interactive and not line:
            return  # end of a piped input
        yield line.strip()


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from storage.lakehouse import NoLakeError
    from storage.search import SearchError

    history: list[tuple[str, str]] = []
    with _answerer(settings) as answerer:
        for question in _turns():
            if not question:
                continue
            if question.lower() in EXIT_WORDS:
                break
            try:
                answer = answerer.answer(question, strategy=args.strategy, k=args.k, paper_ids=args.papers, history=history)
            except (SearchError, NoLakeError, ConfigError):
                raise  # the lake or the options are wrong: no later turn would fare better
            except (PaperlakeError, TimeoutError, ConnectionError) as exc:  # the model failed this turn, after retries
                print(f"paperlake: no answer: {exc}", file=sys.stderr)
                continue
            history.append((question, answer.answer))
            _print_turn(answer, as_json=args.json)
    return 0


def _print_turn(answer: Answer, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer.as_json(), ensure_ascii=False), flush=True)
        return
    if answer.query != answer.question:
        print(f"(searched: {answer.query})")
    print(format_answer(answer) + "\n", flush=True)
