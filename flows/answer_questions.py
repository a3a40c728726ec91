"""Flow `answer-questions`: questions in, answers with citations out, into the lake table `answers`."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from paperlake.settings import load_settings
from tasks.answer import check_questions
from tasks.answer_tasks import TABLE_KEY, answer_batch_task, artifact_rows, record_answers_task
from tasks.report import publish_table
from tasks.run_logs import start_run


@flow(name="answer-questions")
def answer_questions(questions: list[str], strategy: str | None = None, k: int = 5, paper_ids: list[str] | None = None) -> State:
    """Answer each question from the lake's passages, citing the passages used; one commit to `answers` per run.

    `strategy`: a retrieval strategy, default the best of the latest evaluation run. `k`: passages per
    question. `paper_ids`: only these papers. A question asked twice in a run is answered once.
    """
    settings = load_settings()
    settings.check_providers(llm=True)
    start_run(settings)
    check_questions(questions)
    questions = list(dict.fromkeys(q.strip() for q in questions))
    run_id = flow_run.get_id() or str(uuid.uuid4())
    batch = answer_batch_task(settings, questions, strategy, k, paper_ids)
    record_answers_task(settings, batch, run_id, datetime.now(timezone.utc))
    publish_table(TABLE_KEY, artifact_rows(batch), f"Run {run_id}: answers by {batch.model} over {batch.strategy} retrieval (k={k})")
    grounded = sum(a.grounded for a in batch.answers)
    message = f"{len(batch.answers)} of {len(questions)} questions answered, {grounded} from the passages"
    if batch.failures:
        named = "; ".join(f"{q[:60]!r} ({reason})" for q, reason in batch.failures)
        return Failed(message=f"{message}; {len(batch.failures)} failed: {named}", data=batch)
    return Completed(message=message, data=batch)
