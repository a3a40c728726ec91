"""Evaluation datasets: LabelledRagDataset files (CRLF too), clear one-line errors, generated-set identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperlake.eval_data import DatasetError, EvalQuestion, generated_dataset, load_rag_dataset, sample_parents
from paperlake.files import file_sha256

SOLANA = Path("local") / "BlockchainSolana.rag_dataset.json"  # under ../shared/corpus


def _example(query: str, contexts: list[str]) -> dict:
    return {"query": query, "query_by": {"model_name": "gpt-3.5-turbo", "type": "ai"}, "reference_contexts": contexts,
            "reference_answer": "an answer", "reference_answer_by": None}  # fmt: skip


def test_reads_a_crlf_file_in_order(tmp_path):
    path = tmp_path / "set.json"
    text = json.dumps({"examples": [_example("What is  PoH?", ["Proof of history."]), _example("Why?", ["A", "B"])]}, indent=1)
    path.write_bytes(text.replace("\n", "\r\n").encode())
    dataset = load_rag_dataset(path)
    assert [q.question for q in dataset.questions] == ["What is PoH?", "Why?"]
    assert [q.question_id for q in dataset.questions] == ["q0000", "q0001"]
    assert dataset.questions[1].reference_contexts == ("A", "B")
    assert dataset.sha256 == file_sha256(path) and dataset.generator == "gpt-3.5-turbo"
    assert dataset.name == str(path.resolve())


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such dataset file"),
        ("{not json", "not a JSON dataset"),
        ('{"examples": []}', "not a LabelledRagDataset"),
        ('[1, 2]', "not a LabelledRagDataset"),
        ('{"examples": [{"query": "q?", "reference_contexts": []}]}', "examples[0] has no reference_contexts"),
        ('{"examples": [{"reference_contexts": ["x"]}]}', "examples[0] has no query"),
    ],
)
def test_bad_files_are_one_line_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DatasetError) as caught:
        load_rag_dataset(path)
    message = str(caught.value)
    assert reason in message and str(path) in message and "\n" not in message


def test_generated_sets_are_identified_by_content():
    a = EvalQuestion("n1", "What is PoH?", ("text one",), "n1")
    b = EvalQuestion("n2", "What is Tower BFT?", ("text two",), "n2")
    first, again = generated_dataset("g", [a, b], "m"), generated_dataset("g", [b, a], "m")
    assert first.sha256 == again.sha256 and first.questions == again.questions
    changed = generated_dataset("g", [a, EvalQuestion("n2", "Another?", ("text two",), "n2")], "m")
    assert changed.sha256 != first.sha256


def test_sampling_is_fixed_by_seed_and_bounded_by_the_lake():
    ids = [f"node-{i}" for i in range(30)]
    assert sample_parents(ids, 5, seed=1) == sample_parents(list(reversed(ids)), 5, seed=1)
    assert sample_parents(ids, 5, seed=1) != sample_parents(ids, 5, seed=2)
    assert sample_parents(ids[:3], 5, seed=0) == ids[:3]


@pytest.mark.corpus
def test_reads_the_real_solana_dataset(corpus_dir: Path | None):
    if corpus_dir is None or not (corpus_dir / SOLANA).is_file():
        pytest.skip("../shared/corpus/local is absent")
    dataset = load_rag_dataset(corpus_dir / SOLANA)
    assert len(dataset.questions) == 58
    assert all(q.reference_contexts and q.question for q in dataset.questions)
    assert dataset.generator == "gpt-3.5-turbo"
