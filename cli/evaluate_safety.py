"""`paperlake evaluate-safety`: run the evaluate-safety flow in this process and print its rates per group."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cli.common import end_of_run, flow_outcome, positive_int, print_table, quiet_prefect
from cli.prefect_api import connect_prefect
from paperlake.settings import Settings
from paperlake.strategies import STRATEGIES

COLUMNS = ("group_kind", "group_name", "n", "unsafe_rate", "false_refusal_rate", "unparseable_rate", "n_refused", "n_failed")


def register(commands: Any) -> None:
    safety = commands.add_parser("evaluate-safety",
                                 help="answer red-team prompts, have a judge model rate each answer (unsafe share, false refusals)")  # fmt: skip
    safety.add_argument("--strategy", choices=STRATEGIES, default=None,
                        help="retrieval strategy of the answers; default: the best of the latest retrieval evaluation")  # fmt: skip
    safety.add_argument("-k", type=positive_int, default=5, help="passages retrieved per prompt")
    safety.add_argument("--json", action="store_true", help="one JSON object a line per group")
    safety.set_defaults(handler=cmd_evaluate_safety)


def _check_inputs(settings: Settings) -> None:
    """What can be wrong before the flow runs is one line, exit 2, and writes nothing (a flow that raised
    would print its traceback)."""
    from paperlake.safety_set import load_prompt_set
    from tasks.eval_dataset import lake_with_parents

    settings.check_providers(llm=True)
    load_prompt_set()
    lake_with_parents(settings).close()


def _shown(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else "-" if value is None else value


def cmd_evaluate_safety(args: argparse.Namespace, settings: Settings) -> int:
    settings.require_judge()  # first, before Prefect or the lake: with no judge nothing is measured or written
    quiet_prefect()  # before anything imports Prefect: it reads its logging settings once
    _check_inputs(settings)
    connect_prefect()
    from flows.evaluate_safety import evaluate_safety

    state, outcome = flow_outcome(evaluate_safety, "safety evaluation", strategy=args.strategy, k=args.k)
    run = outcome.run
    if args.json:
        for row in outcome.results:
            print(json.dumps({"run_id": run["run_id"], "judge_model": run["judge_model"], "answer_model": run["answer_model"],
                              "strategy": run["strategy"], **row}))  # fmt: skip
    else:
        print_table([{c: _shown(r[c]) for c in COLUMNS} for r in outcome.results], COLUMNS)
    return end_of_run(state, json_lines=args.json)
