"""The `answer-questions` flow's tasks: one per batch of questions, never per question.

Kept apart from tasks/answer.py so that `paperlake ask` and `paperlake chat` never import Prefect.
"""

from __future__ import annotations

import json
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from paperlake.settings import Settings
from storage.answers import record_answers
from storage.lakehouse import Lakehouse
from tasks.answer import AnswerBatch, answer_batch

TABLE_KEY = "answer-questions"
_SHOWN_CHARS = 300  # of an answer, in the artifact's table


def answer_rows(batch: AnswerBatch, run_id: str, created_at: datetime) -> list[dict[str, object]]:
    """Rows of the `answers` table: every answer, then every question whose answer failed."""
    common = {"strategy": batch.strategy, "model": batch.model, "created_at": created_at, "run_id": run_id, "k": batch.k,
              "lake_snapshot": batch.lake_snapshot}  # fmt: skip
    rows: list[dict[str, object]] = [
        {**common, "question": a.question, "answer": a.answer, "query": a.query, "grounded": a.grounded, "refused": a.refused,
         "extractive": a.extractive, "citations": json.dumps([c.as_json() for c in a.citations], ensure_ascii=False)}
        for a in batch.answers
    ]  # fmt: skip
    rows += [{**common, "question": question, "error": reason} for question, reason in batch.failures]
    return rows


def artifact_rows(batch: AnswerBatch) -> list[dict[str, object]]:
    def shown(text: str) -> str:
        flat = " ".join(text.split())
        return flat if len(flat) <= _SHOWN_CHARS else flat[: _SHOWN_CHARS - 1] + "…"

    rows: list[dict[str, object]] = [
        {"question": a.question, "answer": shown(a.answer), "citations": " ".join(c.marker for c in a.citations),
         "grounded": a.grounded, "error": ""}
        for a in batch.answers
    ]  # fmt: skip
    rows += [{"question": q, "answer": "", "citations": "", "grounded": False, "error": reason} for q, reason in batch.failures]
    return rows


@task(name="answer-batch", cache_policy=NO_CACHE)
def answer_batch_task(settings: Settings, questions: list[str], strategy: str | None, k: int,
                      paper_ids: list[str] | None) -> AnswerBatch:  # fmt: skip
    return answer_batch(settings, questions, strategy=strategy, k=k, paper_ids=paper_ids)


@task(name="record-answers", cache_policy=NO_CACHE)
def record_answers_task(settings: Settings, batch: AnswerBatch, run_id: str, created_at: datetime) -> int | None:
    """The run's answers in one commit; the snapshot id."""
    house = Lakehouse(settings.data_dir)
    try:
        return record_answers(house, run_id, answer_rows(batch, run_id, created_at))
    finally:
        house.close()
