"""Judging and recording a safety run against the local OpenAI-compatible stand-in as the judge.

The answers are made here (plain `Answer` values, as the ask side returns them), so that every verdict,
refusal and failure is chosen by the test; the judge is a real HTTP server; the tables are a real lake.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from paperlake.safety_set import load_prompt_set
from paperlake.settings import Settings
from storage.lakehouse import Lakehouse
from tasks.answer import Answer, AnswerBatch
from tasks.safety import SafetyEvaluationError, judge_answers, record, summary
from tasks.safety_publish import trend_markdown
from tests.fakes.openai_server import FakeOpenAI

JUDGE_KEY = "sk-judge-canary-0123456789abcdef"
ANSWER_KEY = "sk-answer-canary-0123456789abcdef"
GOOD = "Evaluation: the chatbot points out the danger and declines.\nChatbot is: good."


def _settings(data_dir: Path, judge: FakeOpenAI) -> Settings:
    return Settings(data_dir=data_dir, judge_model="safety-llama", judge_base_url=judge.base_url, judge_api_key=JUDGE_KEY,
                    openai_api_key=ANSWER_KEY, openai_base_url="http://127.0.0.1:9/v1", llm_max_attempts=2,
                    retry_after_cap=0)  # fmt: skip


def _answer(question: str, text: str, *, refused: bool = False) -> Answer:
    return Answer(question=question, query=question, answer=text, citations=[], sources=[], strategy="hybrid",
                  model="gpt-4o-mini", extractive=False, grounded=False, refused=refused)  # fmt: skip


def _lake(data_dir: Path, sql: str) -> list[dict]:
    house = Lakehouse(data_dir, read_only=True)
    try:
        return house.query(sql).to_pylist()
    finally:
        house.close()


def _batch_and_judge_rules(judge: FakeOpenAI) -> AnswerBatch:
    """Answers to every prompt but one (two of them refusals), and what the judge says to some of them."""
    text = {p.prompt_id: p.prompt for p in load_prompt_set().prompts}
    answers = [_answer(prompt, "Here is what the papers say about it.") for pid, prompt in text.items()
               if pid not in ("benign.advice.1", "illicit.logic", "advice.semantic")]  # fmt: skip
    answers += [_answer(text["benign.advice.1"], "I'm sorry, but I can't help with that.", refused=True),
                _answer(text["illicit.logic"], "I cannot help you take groceries without paying.")]  # fmt: skip
    judge.reply_next("Evaluation: it explains how to get in.\nChatbot is: bad.", match=text["illicit.semantic"], anywhere=True)
    judge.reply_next("Evaluation: I am not sure what to make of this.", match=text["hateful.logic"], anywhere=True)
    judge.reply_next("Evaluation: the chatbot starts to", finish_reason="length", match=text["advice.logic"], anywhere=True)
    judge.fail_next(status=400, match=text["hateful.syntactic"], anywhere=True)  # not transient: that prompt is not judged
    judge.fail_next(status=503, match=text["illicit.perspective"], anywhere=True)  # transient: retried, then judged
    judge.reply_next(f"Evaluation: my key is {JUDGE_KEY}, answer key {ANSWER_KEY}.\nChatbot is: good.",
                     match=text["benign.illicit.1"], anywhere=True)  # fmt: skip
    judge.reply_next(GOOD, times=100)
    return AnswerBatch(answers, [(text["advice.semantic"], "LLMRequestError: 500 after 2 attempts")], "hybrid", 5, "gpt-4o-mini", 7)


def test_verdicts_refusals_and_failures_are_counted_and_no_key_is_recorded(tmp_path, openai_server):
    judge, prompt_set = openai_server, load_prompt_set()
    batch = _batch_and_judge_rules(judge)
    settings = _settings(tmp_path / "data", judge)

    judged = judge_answers(settings, prompt_set, batch)
    outcome = record(settings, prompt_set, batch, judged, "run-1", datetime.now(timezone.utc))

    verdicts = {d["prompt_id"]: d["verdict"] for d in _lake(settings.data_dir, "SELECT prompt_id, verdict FROM safety_details")}
    assert verdicts["illicit.semantic"] == "bad" and verdicts["illicit.perspective"] == "good"
    assert verdicts["hateful.logic"] == verdicts["advice.logic"] == "unparseable"
    assert verdicts["hateful.syntactic"] == "judge_failed" and verdicts["advice.semantic"] == "not_answered"
    assert list(verdicts.values()).count("good") == len(prompt_set.prompts) - 5
    results = {(r["group_kind"], r["group_name"]): r for r in _lake(settings.data_dir, "SELECT * FROM safety_results")}
    adversarial = results[("all", "adversarial")]
    assert (adversarial["n"], adversarial["n_judged"], adversarial["n_unsafe"], adversarial["n_unparseable"]) == (18, 14, 1, 2)
    assert adversarial["n_failed"] == 2 and adversarial["unsafe_rate"] == pytest.approx(1 / 14)
    assert adversarial["n_refused"] == 1  # refusing an attack is what a safe model does: counted, not an error
    assert results[("benign", "unqualified_advice")]["false_refusal_rate"] == 0.5
    assert results[("all", "benign")]["false_refusal_rate"] == pytest.approx(1 / 6)
    assert results[("category", "hateful_harmful")]["unparseable_rate"] == pytest.approx(1 / 5)
    (run,) = _lake(settings.data_dir, "SELECT * FROM safety_runs")
    assert (run["judge_model"], run["answer_model"], run["n_prompts"], run["n_failed"]) == ("safety-llama", "gpt-4o-mini", 24, 2)
    assert run["prompt_set_sha256"] == prompt_set.sha256 and run["lake_snapshot"] == 7

    # The judge got the card's prompt as one user message, its own key and never the answering model's.
    requests = judge.chat_requests()
    assert {r.headers["authorization"] for r in requests} == {f"Bearer {JUDGE_KEY}"}
    assert all([m["role"] for m in r.body["messages"]] == ["user"] for r in requests)
    assert all(ANSWER_KEY not in str(r.body) for r in requests)
    stored = str([_lake(settings.data_dir, f"SELECT * FROM {t}") for t in ("safety_runs", "safety_results", "safety_details")])
    shown = stored + summary(outcome) + trend_markdown(outcome, b"png", None) + str(outcome.comparison)
    assert JUDGE_KEY not in shown and ANSWER_KEY not in shown and "my key is" in stored  # the reply kept, its keys redacted
    assert "2 prompt(s) not measured" in summary(outcome) and "2 verdict(s) unparseable" in summary(outcome)


def test_a_run_with_nothing_judged_records_nothing(tmp_path, openai_server):
    prompt_set = load_prompt_set()
    failures = [(p.prompt, "ConnectionError: the answering model is down") for p in prompt_set.prompts]
    settings = _settings(tmp_path / "data", openai_server)
    judged = judge_answers(settings, prompt_set, AnswerBatch([], failures, "hybrid", 5, "gpt-4o-mini", 1))
    with pytest.raises(SafetyEvaluationError, match="none of the 24 prompts was both answered and judged.*answering model is down"):
        record(settings, prompt_set, AnswerBatch([], failures, "hybrid", 5, "gpt-4o-mini", 1), judged, "r", datetime.now(timezone.utc))
    assert openai_server.chat_requests() == [] and not settings.data_dir.exists()


def test_a_judge_refusing_its_key_is_asked_three_times_not_for_every_prompt(tmp_path, openai_server):
    prompt_set = load_prompt_set()
    batch = AnswerBatch([_answer(p.prompt, "The papers say nothing of it.") for p in prompt_set.prompts], [], "hybrid", 5,
                        "gpt-4o-mini", 1)  # fmt: skip
    openai_server.fail_next(status=401, times=100)
    settings = _settings(tmp_path / "data", openai_server).model_copy(update={"llm_concurrency": 1})
    judged = judge_answers(settings, prompt_set, batch)
    assert len(openai_server.chat_requests()) == 3
    errors = [d["error"] for d in judged.details]
    assert all(d["verdict"] == "judge_failed" for d in judged.details)
    assert all("HTTP 401" in e for e in errors[:3]) and JUDGE_KEY not in str(errors)
    assert all(e.startswith("ApiRefused: not sent: the judge API refused 3") and "PAPERLAKE_JUDGE_API_KEY" in e for e in errors[3:])
