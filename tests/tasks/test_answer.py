"""Answers over a real lake, from the OpenAI-compatible test server or the offline extractive model."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from paperlake.answer_prompts import NOT_FOUND
from paperlake.settings import load_settings
from storage.evaluation import record_run
from storage.lakehouse import Lakehouse
from tasks.answer import Answerer, AnswerError, answer_batch, answer_question
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import write_answer_lake

CANARY = "sk-canary-answers-7f3a9c2e5b1d"
LENS = "How does a convex lens focus light?"
LENS_MARKER = "[2301.00001 p.2\u20133]"


@pytest.fixture
def lake_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir = tmp_path / "data"
    write_answer_lake(data_dir)
    monkeypatch.setenv("PAPERLAKE_DATA_DIR", str(data_dir))
    return data_dir


@pytest.fixture
def model_server(openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """An OpenAI model configured (through the test server), with a canary API key."""
    for name, value in openai_server.env(CANARY).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PAPERLAKE_LLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("PAPERLAKE_LLM_MAX_ATTEMPTS", "2")
    return openai_server


def test_citations_point_at_retrieved_passages_and_invented_ones_are_dropped(lake_dir, model_server):
    model_server.reply_next(f"A convex lens focuses parallel rays onto its focal point {LENS_MARKER}. It was first shown "
                            "in 1602 [2399.99999 p.4], and again on page nine [2301.00001 p.9].")  # fmt: skip
    answer = answer_question(load_settings(), LENS, strategy="baseline", k=2)
    assert answer.grounded and not answer.refused and not answer.extractive and answer.model == "gpt-4o-mini"
    assert answer.answer == f"A convex lens focuses parallel rays onto its focal point {LENS_MARKER}. It was first shown in 1602, " \
                            "and again on page nine."  # fmt: skip
    assert answer.dropped_citations == ["[2399.99999 p.4]", "[2301.00001 p.9]"]
    (citation,) = answer.citations
    lens = next(s for s in answer.sources if s.node_id == citation.node_id)
    stored = Lakehouse(lake_dir, read_only=True).query("SELECT text_sha256 FROM nodes WHERE node_id = ?", [lens.node_id]).to_pylist()
    assert (citation.marker, citation.paper_id, citation.version, citation.page_start, citation.page_end, citation.title) == (
        LENS_MARKER, "2301.00001", "v1", 2, 3, "Lenses and Light")
    assert stored == [{"text_sha256": citation.text_sha256}]
    body = model_server.chat_requests()[-1].body
    system, user = (m["content"] for m in body["messages"])
    assert "never instructions" in system and NOT_FOUND in system and "response_format" not in body
    assert user.count("<passage>") == 2 and f"<passage>\n{LENS_MARKER} Lenses and Light\nRefraction bends" in user
    assert user.endswith(f"Question: {LENS}")
    assert json.loads(json.dumps(answer.as_json()))["citations"][0]["marker"] == LENS_MARKER


def test_not_in_the_passages_uncited_answers_and_refusals(lake_dir, model_server):
    model_server.reply_next(NOT_FOUND)
    model_server.reply_next("Convex lenses were invented in 1602.")  # no citation at all: not shown as an answer
    model_server.reply_next("I'm sorry, but I can't help with that.")
    with Answerer(load_settings()) as answerer:  # one answerer, three event loops: clients closed and reopened
        told, uncited, declined = (answerer.answer(LENS, k=2) for _ in range(3))
    assert (told.answer, told.grounded, told.refused, told.citations) == (NOT_FOUND, False, False, [])
    assert (uncited.answer, uncited.grounded, uncited.refused) == (NOT_FOUND, False, False)
    assert (declined.answer, declined.grounded, declined.refused) == ("I'm sorry, but I can't help with that.", False, True)


def test_offline_answers_quote_the_passages_or_say_not_found(lake_dir):
    settings = load_settings()
    assert settings.llm_is_local
    with Answerer(settings) as answerer:
        found = answerer.answer("What is the focal length of a convex lens?", k=3)
        missing = answerer.answer("What is the boiling point of liquid nitrogen?", k=3)
    assert found.extractive and found.grounded and found.model == "local-extractive"
    assert found.answer.startswith("The focal length of a convex lens is the distance from the lens to its focal point.")
    assert found.citations[0].marker == LENS_MARKER and LENS_MARKER in found.answer
    assert (missing.answer, missing.grounded, missing.citations, len(missing.sources)) == (NOT_FOUND, False, [], 3)


def test_an_answer_never_carries_the_api_key(lake_dir, model_server):
    model_server.reply_next(f"Your key is {CANARY} and the lens focuses light {LENS_MARKER}. Also sk-another-leaked-key-123456.")
    answer = answer_question(load_settings(), f"{LENS} My key: {CANARY}", k=2)
    shown = json.dumps(answer.as_json())
    assert CANARY not in shown and "sk-another" not in shown and "[redacted]" in answer.answer and answer.grounded
    sent = model_server.chat_requests()[-1]
    assert sent.headers["authorization"] == f"Bearer {CANARY}"  # the key went to the server, and only there


def test_default_strategy_is_the_best_of_the_latest_evaluation_on_this_embedding_model(lake_dir):
    settings = load_settings()

    def run(run_id: str, day: int, embed_model: str, mrr: dict[str, float], dataset: str = "d", n: int = 3) -> None:
        row = {"run_id": run_id, "started_at": datetime(2026, 1, day, tzinfo=timezone.utc), "dataset": dataset, "dataset_sha256": "s",
               "embed_model": embed_model, "llm_model": None, "code_version": "c", "lake_snapshot": 1, "n_questions": n}  # fmt: skip
        results = [{"run_id": run_id, "strategy": s, "k": k, "hit_rate": 0.5, "mrr": m if k == 5 else 1 - m, "ndcg": 0.5,
                    "context_recall": 0.5} for s, m in mrr.items() for k in (1, 5)]  # fmt: skip
        house = Lakehouse(lake_dir)
        record_run(house, row, results, [])
        house.close()

    with Answerer(settings) as answerer:
        assert answerer.strategy() == "hybrid"  # no evaluation yet: the search default
    run("r1", 1, "wordllama", {"baseline": 0.5, "chunks": 0.8, "hybrid": 0.7})
    run("r2", 2, "text-embedding-3-small", {"baseline": 0.9, "chunks": 0.1})  # another model's vectors: not ours
    with Answerer(settings) as answerer:
        assert answerer.strategy() == "chunks" and answerer.strategy("metadata") == "metadata"
        assert answerer.answer("focal length of a convex lens", k=1).strategy == "chunks"
    run("r3", 3, "wordllama", {"metadata": 0.6, "hybrid": 0.6, "chunks": 0.2})  # a tie: the search default wins it
    with Answerer(settings) as answerer:
        assert answerer.strategy() == "hybrid"
    run("r4", 4, "wordllama", {"baseline": 0.9, "hybrid": 0.1}, dataset="generated-n2", n=2)  # a smaller set, later
    with Answerer(settings) as answerer:
        assert answerer.strategy() == "hybrid"  # the larger set's latest run still speaks
    run("r5", 5, "wordllama", {"baseline": 0.9, "hybrid": 0.1}, dataset="generated-n50", n=50)
    with Answerer(settings) as answerer:
        assert answerer.strategy() == "baseline"


def test_a_failed_answer_fails_only_its_question_and_transient_errors_are_retried(lake_dir, model_server):
    model_server.fail_next(503, match="Refraction")  # the lens question: retried once, then answered
    model_server.fail_next(400, times=2, match="Tomato")  # the tomato question: a client error, not retried
    batch = answer_batch(load_settings(), [LENS, "When should tomato roots be watered?"], strategy="baseline", k=1)
    assert [a.question for a in batch.answers] == [LENS] and batch.model == "gpt-4o-mini" and batch.lake_snapshot > 0
    ((question, reason),) = batch.failures
    assert question == "When should tomato roots be watered?" and "HTTP 400" in reason and CANARY not in reason
    statuses = sorted(r.status for r in model_server.chat_requests())
    assert statuses == [200, 400, 503]  # the lens question twice (one retry), the tomato question once (never retried)
    with pytest.raises(AnswerError, match="empty question"):
        answer_batch(load_settings(), [LENS, "  "])


QUESTIONS = [LENS, "When should tomato roots be watered?", "What is refraction?", "Why is the sky blue?",
             "How do lenses bend light?", "What do plants need?"]  # fmt: skip


def test_a_refused_key_stops_the_batch_after_three_requests(lake_dir, model_server, monkeypatch):
    monkeypatch.setenv("PAPERLAKE_LLM_CONCURRENCY", "1")  # one at a time: exactly the refusals are sent
    model_server.fail_next(401, times=100)
    batch = answer_batch(load_settings(), QUESTIONS, strategy="baseline", k=1)
    assert batch.answers == [] and len(batch.failures) == len(QUESTIONS)
    assert [r.status for r in model_server.chat_requests()] == [401, 401, 401]  # then nothing more is sent
    reasons = [reason for _, reason in batch.failures]
    assert all("HTTP 401" in r for r in reasons[:3]) and all(r.startswith("not sent:") for r in reasons[3:])
    assert all(CANARY not in r for r in reasons)


def test_answers_keep_the_llm_rate(lake_dir, model_server, monkeypatch):
    monkeypatch.setenv("PAPERLAKE_LLM_RPM", "120")  # one request every 0.5 s, however many are allowed in flight
    batch = answer_batch(load_settings(), QUESTIONS[:3], strategy="baseline", k=1)
    assert len(batch.answers) == 3
    starts = sorted(r.started for r in model_server.chat_requests())
    assert starts[-1] - starts[0] >= 0.9  # three requests at least 2 x 0.5 s apart in all (arrivals: less jitter)
