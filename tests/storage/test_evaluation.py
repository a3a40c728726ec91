"""The evaluation tables: a run lands whole in one commit, comparable runs, parents by time travel."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from storage.evaluation import comparable_results, extraction_models_at, parents_at, record_run
from storage.lake import nodes_to_table
from storage.lakehouse import Append, Lakehouse
from storage.schema import NODES
from tests.helpers import node

T0 = datetime(2026, 1, 1, 3, tzinfo=timezone.utc)


def _run(run_id: str, sha: str = "s1", model: str = "wordllama", hours: int = 0) -> dict:
    return {"run_id": run_id, "started_at": T0 + timedelta(hours=hours), "dataset": "/d.json", "dataset_sha256": sha,
            "embed_model": model, "llm_model": None, "code_version": "abc", "lake_snapshot": 3, "n_questions": 1}  # fmt: skip


def _results(run_id: str, hit: float) -> list[dict]:
    return [{"run_id": run_id, "strategy": "baseline", "k": k, "hit_rate": hit, "mrr": hit, "ndcg": hit,
             "context_recall": hit} for k in (1, 5)]  # fmt: skip


def _details(run_id: str) -> list[dict]:
    return [{"run_id": run_id, "strategy": "baseline", "question_id": "q0000", "question": "Why?", "first_relevant_rank": None}]


def test_a_run_lands_in_one_snapshot_and_only_comparable_runs_are_compared(tmp_path):
    house = Lakehouse(tmp_path)
    house.commit([Append(NODES, nodes_to_table([node("p", "parent", 0, "first text")]))])
    record_run(house, _run("r1"), _results("r1", 0.5), _details("r1"))  # creates the tables, then writes
    snapshot = record_run(house, _run("r2", hours=24), _results("r2", 0.7), _details("r2"))
    for table in ("eval_runs", "eval_results", "eval_details"):  # runs, results and details: one transaction
        counts = [house.query(f"SELECT count(*) AS n FROM {table} AT (VERSION => {v}) WHERE run_id = 'r2'").to_pylist()
                  for v in (snapshot - 1, snapshot)]  # fmt: skip
        assert [c[0]["n"] > 0 for c in counts] == [False, True], table
    record_run(house, _run("other-set", sha="s2", hours=48), _results("other-set", 0.1), _details("other-set"))
    record_run(house, _run("other-model", model="m", hours=48), _results("other-model", 0.1), _details("other-model"))
    history = comparable_results(house, "s1", "wordllama")
    assert [(r["run_id"], r["k"], r["hit_rate"]) for r in history] == [("r1", 1, 0.5), ("r1", 5, 0.5), ("r2", 1, 0.7), ("r2", 5, 0.7)]
    missed = house.query("SELECT first_relevant_rank FROM eval_details WHERE run_id = 'r1'").to_pylist()
    assert missed == [{"first_relevant_rank": None}]


def test_parents_are_read_at_the_snapshot_evaluated(tmp_path):
    house = Lakehouse(tmp_path)
    first = house.commit([Append(NODES, nodes_to_table([node("p", "parent", 0, "old"), node("p", "child", 0, "c")]))])
    house.commit([Append(NODES, nodes_to_table([node("p", "parent", 1, "new")]))])
    assert parents_at(house, first.snapshot_id).column("text").to_pylist() == ["old"]
    assert sorted(parents_at(house, house.snapshot_id()).column("text").to_pylist()) == ["new", "old"]
    assert extraction_models_at(house, house.snapshot_id()) is None  # no extraction table yet
