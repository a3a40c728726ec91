"""The evaluation's questions without Prefect: a generated set is asked once, stored, and reused."""

from __future__ import annotations

import pytest

from paperlake.eval_data import DatasetError
from paperlake.question_gen import QuestionGenerationError
from paperlake.settings import Settings
from storage.lake import nodes_to_table
from storage.lakehouse import Append, Lakehouse, NoLakeError
from storage.schema import NODES
from tasks.eval_dataset import EvaluationError, prepare_dataset
from tests.helpers import node

TEXTS = [f"Section {i}. The validator number {i} checks the ledger of block {i} against the proof of history sequence "
         f"and signs vote {i} for the fork it prefers after a timeout of {i} slots." for i in range(8)]  # fmt: skip


def _lake(data_dir) -> None:
    parents = [node(f"paper{i % 2}", "parent", i, text) for i, text in enumerate(TEXTS)]
    Lakehouse(data_dir).commit([Append(NODES, nodes_to_table(parents))])


def _openai(tmp_path, openai_server, model: str = "my-vllm-model") -> Settings:
    return Settings(data_dir=tmp_path, llm_model=model, llm_provider="openai", openai_base_url=openai_server.base_url,
                    openai_api_key="sk-test-0000", llm_max_attempts=2)  # fmt: skip


def test_generated_once_then_reused_without_a_call_and_the_generator_recorded(tmp_path, openai_server):
    _lake(tmp_path)
    settings = _openai(tmp_path, openai_server)
    first = prepare_dataset(settings, None, 5, seed=3)
    assert openai_server.calls["chat"] == 5 and len(first.questions) == 5
    assert first.name == "generated-n5-seed3-my-vllm-model" and first.generator == "my-vllm-model"
    assert all(q.source_node_id == q.question_id and q.reference_contexts[0] in TEXTS for q in first.questions)

    again = prepare_dataset(settings, None, 5, seed=3)
    assert openai_server.calls["chat"] == 5  # the second night asks nothing
    assert again == first
    stored = Lakehouse(tmp_path).query("SELECT DISTINCT dataset, generator, generator_version, seed FROM eval_questions")
    assert stored.num_rows == 1 and stored.to_pylist()[0]["generator"] == "my-vllm-model"

    other_seed = prepare_dataset(settings, None, 5, seed=4)
    assert openai_server.calls["chat"] == 10 and other_seed.sha256 != first.sha256


def test_offline_generator_is_named_and_a_failed_generation_stores_nothing(tmp_path, openai_server):
    _lake(tmp_path)
    local = prepare_dataset(Settings(data_dir=tmp_path), None, 3, seed=0)
    assert local.generator == "local-extractive" and local.name == "generated-n3-seed0-local-extractive"
    assert all(q.question.startswith("Which passage states that") for q in local.questions)

    settings = _openai(tmp_path, openai_server)
    openai_server.fail_next(400, times=1, match="validator number")
    with pytest.raises(QuestionGenerationError, match="no evaluation question for parent"):
        prepare_dataset(settings, None, 2, seed=0)
    rows = Lakehouse(tmp_path).query("SELECT count(*) AS n FROM eval_questions WHERE generator = 'my-vllm-model'")
    assert rows.to_pylist() == [{"n": 0}]


def test_bad_requests_are_one_line(tmp_path):
    with pytest.raises(NoLakeError):
        prepare_dataset(Settings(data_dir=tmp_path), None, 3)
    Lakehouse(tmp_path).commit([Append(NODES, nodes_to_table([node("p", "child", 0, "only a child")]))])
    with pytest.raises(EvaluationError, match="no passages"):
        prepare_dataset(Settings(data_dir=tmp_path), None, 3)
    with pytest.raises(EvaluationError, match="either"):
        prepare_dataset(Settings(data_dir=tmp_path), "x.json", 3)
    with pytest.raises(DatasetError, match="no such dataset file"):
        prepare_dataset(Settings(data_dir=tmp_path), str(tmp_path / "missing.json"), None)
