"""Evaluation questions: the offline writer, the OpenAI-compatible one over real HTTP, tolerant parsing."""

from __future__ import annotations

import asyncio
import json

import pytest

from paperlake.local_extractive import key_phrases, passage_headings
from paperlake.prompts import ExtractionFailed, local_questions, parse_question
from paperlake.question_gen import LocalQuestionWriter, OpenAIQuestionWriter, QuestionGenerationError, write_questions
from paperlake.settings import Settings

PASSAGE = (
    "3 Proof of History\n"
    "Solana orders events with a verifiable delay function. "
    "Proof of History is a sequence of hashes that proves time has passed between two events in the ledger. "
    "Each validator can verify the sequence in parallel, which keeps consensus messages small. "
    "Tower BFT then votes on the ordered ledger using the hash sequence as its clock."
)


def test_local_writer_is_deterministic_and_not_an_indexed_question():
    writer = LocalQuestionWriter()
    question = writer.write_sync(PASSAGE)
    assert question == writer.write_sync(PASSAGE)
    assert question.startswith("Which passage states that ") and question.endswith("?")
    assert "sequence of hashes" in question or "validator" in question
    # the question nodes of the lake (offline extraction) must not be asked back: `metadata` would get the answers
    assert question not in local_questions(passage_headings(PASSAGE), key_phrases(PASSAGE))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"question": "What does PoH prove?"}', "What does PoH prove?"),
        ('```json\n{"questions": ["1. What is Tower BFT?", "Other?"]}\n```', "What is Tower BFT?"),
        ("Here you go:\n1. How fast is Solana?", "How fast is Solana?"),
    ],
)
def test_parse_question_reads_what_models_send(content, expected):
    assert parse_question(content) == expected


def test_parse_question_refuses_nothing():
    with pytest.raises(ExtractionFailed):
        parse_question("   ")


def _settings(openai_server, **extra) -> Settings:
    env = {"llm_model": "my-vllm-model", "llm_provider": "openai", "openai_base_url": openai_server.base_url,
           "openai_api_key": "sk-test-0000", "llm_max_attempts": 2, **extra}  # fmt: skip
    return Settings(**env)


def test_openai_writer_asks_one_quiz_question_per_passage(openai_server):
    settings = _settings(openai_server)
    openai_server.reply_next(json.dumps({"question": "How does Solana order events?"}), match="Tower BFT")
    questions = asyncio.run(write_questions([("p1", PASSAGE), ("p2", "Gas fees pay for Ethereum contracts.")],
                                            OpenAIQuestionWriter(settings), settings))  # fmt: skip
    assert questions["p1"] == "How does Solana order events?"
    assert questions["p2"].endswith("?")
    requests = openai_server.chat_requests()
    assert len(requests) == 2 and all(r.body["model"] == "my-vllm-model" for r in requests)
    system = requests[0].body["messages"][0]["content"]
    assert "quiz/examination" in system and "1 question" in system


def test_openai_writer_retries_a_flaky_server_then_names_the_parent(openai_server):
    settings = _settings(openai_server, retry_after_cap=0)
    openai_server.fail_next(503, times=1, headers={"retry-after": "0"})
    ok = asyncio.run(write_questions([("p1", PASSAGE)], OpenAIQuestionWriter(settings), settings))
    assert set(ok) == {"p1"} and openai_server.calls["chat"] == 2
    openai_server.fail_next(400, times=1)
    with pytest.raises(QuestionGenerationError, match="parent p9 .*my-vllm-model.*HTTP 400"):
        asyncio.run(write_questions([("p9", PASSAGE)], OpenAIQuestionWriter(settings), settings))
