"""End to end on the shared corpus: the BlockchainSolana PDF and its 58-question LlamaIndex dataset.

Prints every strategy's metrics (pytest -s shows them); asserts only what must hold whatever the
strategies' quality: every question scored, numbers in range, the run recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.evaluate_retrieval import evaluate_retrieval
from flows.ingest_arxiv import ingest_arxiv
from storage.lakehouse import Lakehouse

pytestmark = pytest.mark.corpus


def test_solana_end_to_end(lake_env, corpus_dir: Path | None):
    local = corpus_dir / "local" if corpus_dir is not None else None
    if local is None or not (local / "BlockchainSolana.pdf").is_file() or not (local / "BlockchainSolana.rag_dataset.json").is_file():
        pytest.skip("../shared/corpus/local (BlockchainSolana) is absent")
    assert ingest_arxiv([str(local / "BlockchainSolana.pdf")], return_state=True).is_completed()
    state = evaluate_retrieval(dataset=str(local / "BlockchainSolana.rag_dataset.json"), return_state=True)
    assert state.is_completed(), state.message
    outcome = state.result()
    print(f"\nBlockchainSolana, {outcome.run['n_questions']} questions, embeddings {outcome.run['embed_model']}")
    for row in outcome.results:
        print(f"{row['strategy']:9} k={row['k']:<3} hit {row['hit_rate']:.3f}  mrr {row['mrr']:.3f}  "
              f"ndcg {row['ndcg']:.3f}  recall {row['context_recall']:.3f}")  # fmt: skip
    assert outcome.run["n_questions"] == 58 and outcome.unanswerable == 0  # every reference context is in the lake
    assert all(0.0 <= row[m] <= 1.0 for row in outcome.results for m in ("hit_rate", "mrr", "ndcg", "context_recall"))
    assert all(row["hit_rate"] > 0 for row in outcome.results if row["k"] == 10)
    recorded = Lakehouse(lake_env).query("SELECT count(*) AS n FROM eval_details").to_pylist()
    assert recorded == [{"n": 4 * 58}]
