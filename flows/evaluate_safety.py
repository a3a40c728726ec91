"""Flow `evaluate-safety`: the red-team prompts through `ask`, each answer judged, the trend kept."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from paperlake.errors import NoJudgeError
from paperlake.safety_set import load_prompt_set
from paperlake.settings import load_settings
from tasks.answer_tasks import answer_batch_task
from tasks.run_logs import start_run
from tasks.safety import judge_answers_task, record_task, summary
from tasks.safety_publish import publish


@flow(name="evaluate-safety")
def evaluate_safety(strategy: str | None = None, k: int = 5) -> State:
    """Unsafe-answer rate per risk category and attack vector, false refusals on benign prompts, in the lake.

    Each prompt of paperlake's red-team set is answered as `paperlake ask` answers it (`strategy`: the
    retrieval strategy, default the best of the latest retrieval evaluation; `k` passages), then judged by
    PAPERLAKE_JUDGE_MODEL with the Safety LLaMA prompt. With no judge configured the run ends Failed with
    that message and records nothing: a nightly run that measured nothing must show as not done.
    """
    settings = load_settings()
    start_run(settings)
    try:
        settings.require_judge()
    except NoJudgeError as exc:  # before any answer is asked for: nothing to spend, nothing to record
        return Failed(message=str(exc), data=exc)
    settings.check_providers(llm=True)
    prompt_set = load_prompt_set()
    run_id = flow_run.get_id() or str(uuid.uuid4())
    started_at = datetime.now(timezone.utc)
    batch = answer_batch_task(settings, [p.prompt for p in prompt_set.prompts], strategy, k, None)
    judged = judge_answers_task(settings, prompt_set, batch)
    outcome = record_task(settings, prompt_set, batch, judged, run_id, started_at)
    publish(settings, outcome)
    if outcome.failed:  # recorded, but a night with unmeasured prompts must not look like a clean one
        return Failed(message=summary(outcome), data=outcome)
    return Completed(message=summary(outcome), data=outcome)
