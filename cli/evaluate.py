"""`paperlake evaluate`: run the evaluate-retrieval flow in this process and print its metrics."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cli.common import end_of_run, flow_outcome, positive_int, print_table, quiet_prefect
from cli.prefect_api import connect_prefect
from paperlake.settings import Settings

COLUMNS = ("strategy", "k", "hit_rate", "mrr", "ndcg", "context_recall", "n_questions")


def register(commands: Any) -> None:
    evaluate = commands.add_parser("evaluate", help="score every retrieval strategy on a dataset (hit rate, MRR, nDCG, recall)")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", metavar="PATH", help="a LlamaIndex LabelledRagDataset JSON file")
    source.add_argument("--generated", type=positive_int, metavar="N", help="N questions generated from the lake once, then reused")
    evaluate.add_argument("--seed", type=int, default=0, help="which parents a generated dataset samples")
    evaluate.add_argument("--max-drop", type=float, default=0.05, help="fail when a metric falls more than this vs the last run")
    evaluate.add_argument("--json", action="store_true", help="one JSON object a line per strategy and k")
    evaluate.set_defaults(handler=cmd_evaluate)


def _check_inputs(args: argparse.Namespace, settings: Settings) -> None:
    """Bad input is one line before Prefect starts (a flow that raised would print its traceback)."""
    from paperlake.eval_data import load_rag_dataset
    from tasks.eval_dataset import lake_with_parents

    if args.dataset is not None:
        load_rag_dataset(args.dataset)
    lake_with_parents(settings).close()


def _rows(outcome: Any) -> list[dict[str, object]]:
    return [{c: (round(r[c], 4) if isinstance(r[c], float) else r[c]) for c in COLUMNS} for r in outcome.results]


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    quiet_prefect()  # before anything imports Prefect: it reads its logging settings once
    _check_inputs(args, settings)
    connect_prefect()
    from flows.evaluate_retrieval import evaluate_retrieval

    state, outcome = flow_outcome(evaluate_retrieval, "evaluation", dataset=args.dataset, generated=args.generated,
                                  seed=args.seed, max_drop=args.max_drop)  # fmt: skip
    if args.json:
        for row in _rows(outcome):
            print(json.dumps({"run_id": outcome.run["run_id"], "dataset": outcome.run["dataset"], **row}))
    else:
        print_table(_rows(outcome), COLUMNS)
    return end_of_run(state, json_lines=args.json)
