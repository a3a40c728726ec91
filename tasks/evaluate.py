"""Scoring every retrieval strategy on a dataset, recording the run, and what it tells people.

Each strategy retrieves once at max(k) for all questions (`Searcher.search_many`: one batch of query
embeddings); smaller cut-offs are prefixes of that ranking. Relevance is judged against the parents
of the very snapshot the search index was built from (DuckLake time travel), so a run's numbers,
its `lake_snapshot` and a later re-run at that snapshot agree. Plain functions, thin tasks at the end.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from paperlake.eval_data import EvalDataset
from paperlake.eval_report import comparison_table, previous_run_id, regressions, rows_of_run
from paperlake.metrics import Judged, aggregate, judge
from paperlake.relevance import Passages, Reference, RelevanceIndex
from paperlake.settings import Settings
from storage.evaluation import comparable_results, extraction_models_at, parents_at, record_run
from tasks.eval_dataset import EvaluationError, lake_with_parents

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KS = (1, 2, 5, 10)


@dataclass(frozen=True)
class Retrieval:
    snapshot_id: int
    embed_model: str
    rankings: dict[str, list[list[str]]]  # strategy -> per question, parent node ids best first


@dataclass
class EvaluationOutcome:
    run: dict[str, object]  # the eval_runs row
    results: list[dict[str, object]]  # eval_results rows without run_id, plus n_questions
    missed: dict[str, int]  # strategy -> questions with no relevant parent in the top max(k)
    unanswerable: int  # questions no parent of the lake is relevant to
    history: list[dict[str, object]] = field(default_factory=list)  # comparable runs, oldest first
    previous_run_id: str | None = None
    drops: list[str] = field(default_factory=list)

    @property
    def comparison(self) -> list[dict[str, object]]:
        return comparison_table(self.results, rows_of_run(self.history, self.previous_run_id))


@lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit the code runs from (`+dirty` with uncommitted changes), else the package version."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)  # fmt: skip
        if head.returncode == 0 and head.stdout.strip():
            return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass  # no git here: an installed copy
    try:
        return f"paperlake {version('paperlake')}"
    except PackageNotFoundError:
        return "unknown"


def retrieve(settings: Settings, dataset: EvalDataset, k: int, strategies: Sequence[str] | None = None) -> Retrieval:
    """Every strategy's top k for every question, from one searcher (one index, one snapshot)."""
    from storage.search import STRATEGIES, Searcher

    queries = [q.question for q in dataset.questions]
    with Searcher(settings) as searcher:
        for _ in range(3):  # an ingest landed mid-run: every strategy must have searched one snapshot
            snapshot = searcher.snapshot_id
            rankings = {s: [[r.node_id for r in hits] for hits in searcher.search_many(queries, s, k)] for s in strategies or STRATEGIES}
            if searcher.snapshot_id == snapshot:
                return Retrieval(snapshot, searcher.embed_model, rankings)
    raise EvaluationError("the lake kept changing while the strategies searched it: evaluate again once ingests are done")


def judge_all(dataset: EvalDataset, retrieval: Retrieval, parents: dict[str, str]) -> dict[str, list[Judged]]:
    """strategy -> one judged ranking per question (relevance worked out once per question)."""
    passages = Passages(parents)
    references = [[Reference(c) for c in q.reference_contexts] for q in dataset.questions]
    judged_by_text = [r for q, refs in zip(dataset.questions, references, strict=True) if q.source_node_id is None for r in refs]
    index = RelevanceIndex(passages, judged_by_text)
    relevant = [
        frozenset({q.source_node_id} & passages.tokens.keys()) if q.source_node_id is not None else index.relevant_to(refs)
        for q, refs in zip(dataset.questions, references, strict=True)
    ]  # generated questions: their source parent, if the lake still has it
    return {
        strategy: [judge(ranked, rel, refs, passages) for ranked, rel, refs in zip(lists, relevant, references, strict=True)]
        for strategy, lists in retrieval.rankings.items()
    }


def score(dataset: EvalDataset, judged: dict[str, list[Judged]], ks: Sequence[int]) -> tuple[list[dict], list[dict]]:
    """(results rows per strategy and k, details rows per strategy and question), without run_id."""
    results, details = [], []
    for strategy, per_question in judged.items():
        for row in aggregate(per_question, ks):
            results.append({"strategy": strategy, "k": row.k, **row.values(), "n_questions": row.n_questions})
        for question, one in zip(dataset.questions, per_question, strict=True):
            details.append({"strategy": strategy, "question_id": question.question_id, "question": question.question,
                            "first_relevant_rank": one.first_relevant_rank})  # fmt: skip
    return results, details


def evaluate(settings: Settings, dataset: EvalDataset, retrieval: Retrieval, ks: Sequence[int], run_id: str,
             started_at: datetime, max_drop: float) -> EvaluationOutcome:  # fmt: skip
    """Judge, score and record the run in one commit; compare it with the previous comparable run."""
    house = lake_with_parents(settings)
    try:
        parents = {r["node_id"]: r["text"] for r in parents_at(house, retrieval.snapshot_id).to_pylist()}
        judged = judge_all(dataset, retrieval, parents)
        results, details = score(dataset, judged, ks)
        run = {"run_id": run_id, "started_at": started_at, "dataset": dataset.name, "dataset_sha256": dataset.sha256,
               "embed_model": retrieval.embed_model, "llm_model": extraction_models_at(house, retrieval.snapshot_id),
               "code_version": code_version(), "lake_snapshot": retrieval.snapshot_id,
               "n_questions": len(dataset.questions)}  # fmt: skip
        record_run(house, run, [{"run_id": run_id, **r} for r in results], [{"run_id": run_id, **d} for d in details])
        history = comparable_results(house, dataset.sha256, retrieval.embed_model)
    finally:
        house.close()
    any_judged = next(iter(judged.values()), [])
    outcome = EvaluationOutcome(
        run, results, {s: sum(j.first_relevant_rank is None for j in js) for s, js in judged.items()},
        sum(j.n_relevant == 0 for j in any_judged), history, previous_run_id(history, run_id),
    )  # fmt: skip
    outcome.drops = regressions(results, rows_of_run(history, outcome.previous_run_id), max_drop)
    return outcome


# ---- Prefect: one task per run step, never per question -------------------------------------
@task(name="retrieve", cache_policy=NO_CACHE)
def retrieve_task(settings: Settings, dataset: EvalDataset, k: int) -> Retrieval:
    return retrieve(settings, dataset, k)


@task(name="score-and-record", cache_policy=NO_CACHE)
def evaluate_task(settings: Settings, dataset: EvalDataset, retrieval: Retrieval, ks: list[int], run_id: str,
                  started_at: datetime, max_drop: float) -> EvaluationOutcome:  # fmt: skip
    return evaluate(settings, dataset, retrieval, ks, run_id, started_at, max_drop)
