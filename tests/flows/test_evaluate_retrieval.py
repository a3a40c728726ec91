"""Flow `evaluate-retrieval` against the real Prefect test server, a real lake and real search."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

from flows.evaluate_retrieval import evaluate_retrieval
from flows.ingest_arxiv import ingest_arxiv
from storage.evaluation import EVAL_RESULTS, EVAL_RUNS
from storage.lakehouse import Append, Lakehouse
from tests.pdfs import make_pdf

TOPICS = {
    "solana": ["Solana orders transactions with Proof of History, a sequence of SHA-256 hashes",
               "that proves time passed between events. Validators verify the sequence in parallel",
               "and Tower BFT votes on forks using the hash sequence as a clock, so the leader",
               "streams blocks without waiting for consensus messages from every validator."],
    "bitcoin": ["Bitcoin miners search for a nonce whose block hash falls below the difficulty target.",
                "The difficulty adjusts every 2016 blocks so that a block appears about every ten",
                "minutes, and the longest chain of proof of work is taken as the valid history",
                "of unspent transaction outputs held by every full node in the network."],
    "fabric": ["Hyperledger Fabric is a permissioned ledger where organisations join channels.",
               "Peers endorse chaincode results, the ordering service batches endorsed transactions",
               "into blocks, and committing peers validate endorsement policies before they update",
               "the world state kept in LevelDB or CouchDB for each private channel of the consortium."],
    "ethereum": ["Ethereum accounts run smart contracts compiled to bytecode for the virtual machine.",
                 "Every instruction costs gas, paid in ether by the sender of a transaction, and a",
                 "contract that runs out of gas reverts its state changes while the fee is still",
                 "charged, which bounds the work any single call can demand from the network."],
}  # fmt: skip
QUESTIONS = [
    ("How does Solana prove that time passed between events?", "solana", 0),
    ("When does the Bitcoin mining difficulty adjust?", "bitcoin", 1),
    ("Where does Hyperledger Fabric keep the world state?", "fabric", 2),
    ("What happens when an Ethereum contract runs out of gas?", "ethereum", 2),
]


def _lake_and_dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "papers"
    folder.mkdir()
    for name, lines in TOPICS.items():
        (folder / f"{name}.pdf").write_bytes(make_pdf(["\n".join(lines)], title=name))
    assert ingest_arxiv([str(folder)], return_state=True).is_completed()
    examples = [{"query": q, "reference_contexts": [" ".join(TOPICS[topic][line : line + 2])], "reference_answer": "-"}
                for q, topic, line in QUESTIONS]  # fmt: skip
    # one question the lake cannot answer: every strategy misses it, so no metric can be perfect
    examples.append({"query": "Which zebra painted the unicorn?", "reference_contexts": ["zebra unicorn rainbow paint brush"]})
    path = tmp_path / "set.rag_dataset.json"
    path.write_text(json.dumps({"examples": examples}), encoding="utf-8")
    return path


def _artifacts(state, key: str) -> list:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))  # fmt: skip


def _inject_perfect_previous_run(data_dir: Path, run: dict) -> None:
    """A 'previous' run on the same questions and model where everything was found: what tonight must be compared with."""
    fake = {**run, "run_id": "injected-perfect-run", "started_at": datetime.now(timezone.utc)}
    results = [{"run_id": fake["run_id"], "strategy": s, "k": k, "hit_rate": 1.0, "mrr": 1.0, "ndcg": 1.0, "context_recall": 1.0}
               for s in ("baseline", "chunks", "metadata", "hybrid") for k in (1, 2, 5, 10)]  # fmt: skip
    Lakehouse(data_dir).commit([Append(EVAL_RUNS, EVAL_RUNS.rows([fake])), Append(EVAL_RESULTS, EVAL_RESULTS.rows(results))])


def test_metrics_recorded_charted_and_a_drop_fails_the_run(lake_env, tmp_path):
    dataset = _lake_and_dataset(tmp_path)
    first = evaluate_retrieval(dataset=str(dataset), return_state=True)
    assert first.is_completed(), first.message
    outcome = first.result()
    assert outcome.previous_run_id is None and outcome.run["n_questions"] == 5
    assert outcome.unanswerable == 1 and "1 match no passage of the lake" in first.message
    assert {r["strategy"] for r in outcome.results} == {"baseline", "chunks", "metadata", "hybrid"}
    best = max(r["hit_rate"] for r in outcome.results if r["k"] == 10)
    assert 0 < best <= 0.8  # the unanswerable question is always missed
    house = Lakehouse(lake_env)
    assert house.query("SELECT count(*) AS n FROM eval_results").to_pylist() == [{"n": 16}]
    missed = house.query("SELECT DISTINCT question_id FROM eval_details WHERE first_relevant_rank IS NULL").to_pylist()
    assert {"question_id": "q0004"} in missed
    assert house.query("SELECT lake_snapshot, dataset_sha256 FROM eval_runs").to_pylist()[0]["lake_snapshot"] > 0

    charts = list((lake_env / "reports").glob("retrieval-*.png"))
    assert len(charts) == 1 and charts[0].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    (markdown,) = _artifacts(first, "evaluate-retrieval-trend")
    encoded = markdown.data.split("data:image/png;base64,")[1].split(")")[0]
    assert base64.b64decode(encoded) == charts[0].read_bytes()
    (table,) = _artifacts(first, "evaluate-retrieval")
    assert len(json.loads(table.data)) == 16

    _inject_perfect_previous_run(lake_env, outcome.run)
    dropped = evaluate_retrieval(dataset=str(dataset), max_drop=0.1, return_state=True)
    assert dropped.is_failed()
    assert "against run injected-perfect-run" in dropped.message and "hit_rate@" in dropped.message
    assert any(f"{s} " in dropped.message for s in ("baseline", "chunks", "metadata", "hybrid"))
    assert house.query("SELECT count(*) AS n FROM eval_runs").to_pylist() == [{"n": 3}]  # the failed run's data landed

    quiet = evaluate_retrieval(dataset=str(dataset), max_drop=0.1, return_state=True)
    assert quiet.is_completed(), quiet.message  # same lake, same questions, same numbers as the run before
    assert quiet.result().previous_run_id == dropped.result(raise_on_failure=False).run["run_id"]


@pytest.fixture
def openai_llm(openai_server, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PAPERLAKE_LLM_MODEL", "my-vllm-model")
    monkeypatch.setenv("PAPERLAKE_LLM_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000")
    return openai_server


def test_a_generated_set_is_asked_once_and_reused_every_night(lake_env, tmp_path, openai_llm):
    _lake_and_dataset(tmp_path)
    first = evaluate_retrieval(generated=3, seed=1, return_state=True)
    assert first.is_completed(), first.message
    assert openai_llm.calls["chat"] == 3
    again = evaluate_retrieval(generated=3, seed=1, return_state=True)
    assert again.is_completed(), again.message
    assert openai_llm.calls["chat"] == 3  # the second night asks the LLM nothing
    run_one, run_two = first.result().run, again.result().run
    assert run_one["dataset"] == run_two["dataset"] == "generated-n3-seed1-my-vllm-model"
    assert run_one["dataset_sha256"] == run_two["dataset_sha256"] and again.result().previous_run_id == run_one["run_id"]
    generators = Lakehouse(lake_env).query("SELECT DISTINCT generator FROM eval_questions").to_pylist()
    assert generators == [{"generator": "my-vllm-model"}]
