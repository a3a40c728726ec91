"""The lake as a LlamaIndex retriever, answering through a query engine whose LLM is llama-index's OpenAI
client pointed at the local OpenAI-compatible test server (as the recursive-retriever notebook does)."""

from __future__ import annotations

from pathlib import Path

from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore
from llama_index.llms.openai import OpenAI

from paperlake.embedders import WordLlamaEmbedder
from paperlake.settings import Settings
from storage.lake import Lake
from storage.search import Searcher
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import node, paper_row

SAFETY = ("Safety fine-tuning gathers adversarial prompts and safe demonstrations, trains a safety reward model "
          "for RLHF, and distills a safety preprompt into the model by context distillation.")  # fmt: skip
OTHER = "Pretraining data came from public sources; we trained for two trillion tokens with a cosine schedule."


def _lake(tmp_path: Path) -> Path:
    lake = Lake(tmp_path / "data")
    nodes = [node("2307.09288", "parent", 0, OTHER), node("2307.09288", "parent", 1, SAFETY)]
    lake.write_paper({**paper_row("2307.09288"), "title": "Llama 2"}, nodes, WordLlamaEmbedder().embed([n.text for n in nodes]), "wordllama")
    return lake.data_dir


def test_retriever_returns_parents_with_their_metadata(tmp_path: Path) -> None:
    with Searcher(Settings(data_dir=_lake(tmp_path))) as searcher:
        found = searcher.as_retriever("baseline", k=1).retrieve("key concepts for safety finetuning")
        by_rank = searcher.as_retriever("hybrid", k=2, fusion="rrf").retrieve("key concepts for safety finetuning")
    assert by_rank[0].node.get_content() == SAFETY and by_rank[0].score < 3 / 61  # reciprocal ranks, not scaled scores
    assert len(found) == 1 and isinstance(found[0], NodeWithScore)
    assert found[0].node.get_content() == SAFETY and found[0].score > 0
    assert found[0].node.metadata | {} == {"paper_id": "2307.09288", "title": "Llama 2", "page_start": 1, "page_end": 1,
                                           "strategy": "baseline", "node_id": found[0].node.node_id,
                                           "matched_node_id": found[0].node.node_id, "matched_kind": "parent"}  # fmt: skip


def test_query_engine_answers_from_the_retrieved_passage(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    openai_server.reply_next("Three techniques: supervised safety fine-tuning, safety RLHF, context distillation.")
    llm = OpenAI(model="gpt-4o-mini", api_key="sk-test-0123456789abcdef", api_base=openai_server.base_url, max_retries=0)
    with Searcher(Settings(data_dir=_lake(tmp_path))) as searcher:
        engine = RetrieverQueryEngine.from_args(searcher.as_retriever("hybrid", k=1), llm=llm)
        response = engine.query("Can you tell me about the key concepts for safety finetuning")
    assert "context distillation" in str(response)
    prompt = " ".join(str(m.get("content", "")) for r in openai_server.chat_requests() for m in r.body["messages"])
    assert SAFETY in prompt and "title: Llama 2" in prompt and OTHER not in prompt
