"""Judging the answers to the red-team prompts, scoring the run, recording it, and what it tells people.

The prompts are answered by the `ask` path in one batch (tasks.answer_tasks.answer_batch_task: one
searcher, queries embedded once, model calls concurrent and retried). Each answer then goes to the judge
(paperlake.safety_judge) concurrently, each call retried by paperlake.retrying; a call that still fails
fails only its prompt, which is counted as such and never rated. A run in which the judge gave no reply at
all measured nothing and records nothing. Plain functions, thin tasks at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from paperlake.asyncio_sync import run_sync
from paperlake.errors import PaperlakeError
from paperlake.eval_report import comparison_table, previous_run_id, rows_of_run
from paperlake.redact import describe_error
from paperlake.refusals import RefusalBreaker
from paperlake.retrying import retried_in_slot
from paperlake.safety_judge import JUDGE_PROMPT_SHA256, Judgement, SafetyJudge, counts_as_refusal
from paperlake.safety_metrics import SAFETY_METRICS, Outcome, group_rows
from paperlake.safety_set import PromptSet, SafetyPrompt
from paperlake.settings import Settings
from storage.lakehouse import Lakehouse
from storage.safety import comparable_safety_results, record_safety_run
from tasks.answer import Answer, AnswerBatch
from tasks.evaluate import code_version

GROUP_KEYS = ("group_kind", "group_name")
FAILED = ("judge_failed", "not_answered")


class SafetyEvaluationError(PaperlakeError):
    """The run measured nothing (no prompt was both answered and judged); nothing is recorded."""


@dataclass
class Judged:
    judge_model: str
    outcomes: list[Outcome]
    details: list[dict[str, object]]  # safety_details rows without run_id


@dataclass
class SafetyOutcome:
    run: dict[str, object]  # the safety_runs row
    results: list[dict[str, object]]  # safety_results rows without run_id
    details: list[dict[str, object]]  # safety_details rows without run_id
    history: list[dict[str, object]] = field(default_factory=list)  # comparable runs, oldest first
    previous_run_id: str | None = None

    @property
    def comparison(self) -> list[dict[str, object]]:
        return comparison_table(self.results, rows_of_run(self.history, self.previous_run_id), GROUP_KEYS, SAFETY_METRICS)

    @property
    def failed(self) -> list[dict[str, object]]:
        return [d for d in self.details if d["verdict"] in FAILED]


async def _judge_all(settings: Settings, judge: SafetyJudge, pairs: Sequence[tuple[str, str]]) -> list[Judgement | BaseException]:
    slots = asyncio.Semaphore(settings.llm_concurrency)
    # A judge refusing its key would refuse every prompt: after a few, the rest fail at once, not sent.
    refusals = RefusalBreaker("the judge API", check_hint="check PAPERLAKE_JUDGE_API_KEY and PAPERLAKE_JUDGE_BASE_URL")
    try:
        calls = [
            retried_in_slot(lambda q=q, a=a: refusals.guard(lambda: judge.judge(q, a)), slots, settings.llm_max_attempts,
                            settings.retry_after_cap)  # fmt: skip
            for q, a in pairs
        ]
        return await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await judge.aclose()


def _detail(prompt: SafetyPrompt, answer: Answer | None, verdict: str, refused: bool | None, reply: str | None,
            error: str | None) -> dict[str, object]:  # fmt: skip
    return {"prompt_id": prompt.prompt_id, "category": prompt.category, "vector": prompt.vector, "benign": prompt.benign,
            "prompt": prompt.prompt, "answer": answer.answer if answer else None, "verdict": verdict, "refused": refused,
            "grounded": answer.grounded if answer else None, "judge_reply": reply, "error": error or None}  # fmt: skip


def judge_answers(settings: Settings, prompt_set: PromptSet, batch: AnswerBatch, judge: SafetyJudge | None = None) -> Judged:
    """Every answered prompt judged (verdict, refusal); unanswered ones carried as `not_answered`."""
    judge = judge if judge is not None else SafetyJudge(settings)
    answers = {a.question: a for a in batch.answers}
    why_not = dict(batch.failures)
    answered = [p for p in prompt_set.prompts if p.prompt in answers]
    verdicts = dict(zip(
        [p.prompt_id for p in answered],
        run_sync(lambda: _judge_all(settings, judge, [(p.prompt, answers[p.prompt].answer) for p in answered])),
        strict=True,
    ))  # fmt: skip
    outcomes, details = [], []
    for prompt in prompt_set.prompts:
        answer = answers.get(prompt.prompt)
        if answer is None:
            outcome = Outcome(prompt, "not_answered", None)
            details.append(_detail(prompt, None, "not_answered", None, None, why_not.get(prompt.prompt, "no answer returned")))
        else:
            refused = counts_as_refusal(answer.refused, answer.extractive, answer.answer)
            judged = verdicts[prompt.prompt_id]
            if isinstance(judged, BaseException):
                outcome = Outcome(prompt, "judge_failed", refused)
                details.append(_detail(prompt, answer, "judge_failed", refused, None, describe_error(judged)))
            else:
                outcome = Outcome(prompt, judged.verdict, refused)
                details.append(_detail(prompt, answer, judged.verdict, refused, judged.reply, judged.reason))
        outcomes.append(outcome)
    return Judged(judge.model, outcomes, details)


def record(settings: Settings, prompt_set: PromptSet, batch: AnswerBatch, judged: Judged, run_id: str,
           started_at: datetime) -> SafetyOutcome:  # fmt: skip
    """Score and record the run in one commit, then read the comparable history; nothing if nothing was judged."""
    replies = [o for o in judged.outcomes if o.status not in FAILED]
    if not replies:
        reasons = sorted({str(d["error"]) for d in judged.details if d["error"]})
        raise SafetyEvaluationError(f"none of the {len(prompt_set.prompts)} prompts was both answered and judged (judge "
                                    f"{judged.judge_model}), so nothing was measured or recorded: "
                                    f"{reasons[0] if reasons else 'no answers'}")  # fmt: skip
    results = group_rows(judged.outcomes)
    run = {"run_id": run_id, "started_at": started_at, "judge_model": judged.judge_model, "answer_model": batch.model,
           "strategy": batch.strategy, "code_version": code_version(), "lake_snapshot": batch.lake_snapshot,
           "n_prompts": len(prompt_set.prompts), "prompt_set_sha256": prompt_set.sha256, "prompt_set": prompt_set.name,
           "judge_prompt_sha256": JUDGE_PROMPT_SHA256, "k": batch.k, "embed_model": settings.embed_model,
           "n_failed": len(judged.outcomes) - len(replies)}  # fmt: skip
    house = Lakehouse(settings.data_dir)
    try:
        record_safety_run(house, run, [{"run_id": run_id, **r} for r in results], [{"run_id": run_id, **d} for d in judged.details])
        history = comparable_safety_results(house, prompt_set.sha256, judged.judge_model, JUDGE_PROMPT_SHA256)
    finally:
        house.close()
    return SafetyOutcome(run, results, judged.details, history, previous_run_id(history, run_id))


def summary(outcome: SafetyOutcome) -> str:
    """One line for the run's final state: unsafe share, false refusals, unparseable and failed prompts."""
    overall = {r["group_name"]: r for r in outcome.results if r["group_kind"] == "all"}
    parts = [f"{outcome.run['n_prompts']} prompts judged by {outcome.run['judge_model']}"]
    if "adversarial" in overall:
        row = overall["adversarial"]
        parts.append(f"unsafe {row['n_unsafe']} of {row['n_judged']} adversarial answers with a verdict")
    if "benign" in overall:
        row = overall["benign"]
        parts.append(f"false refusals {row['n_refused']} of {row['n_answered']} benign answers")
    unparseable = sum(d["verdict"] == "unparseable" for d in outcome.details)
    if unparseable:
        parts.append(f"{unparseable} verdict(s) unparseable (counted, not guessed)")
    if outcome.failed:
        named = "; ".join(f"{d['prompt_id']} ({d['verdict']}: {d['error']})" for d in outcome.failed[:3])
        parts.append(f"{len(outcome.failed)} prompt(s) not measured: {named}")
    return ", ".join(parts)


# ---- Prefect: one task per run step, never per prompt ----------------------------------------
@task(name="judge-answers", cache_policy=NO_CACHE)
def judge_answers_task(settings: Settings, prompt_set: PromptSet, batch: AnswerBatch) -> Judged:
    return judge_answers(settings, prompt_set, batch)


@task(name="score-and-record-safety", cache_policy=NO_CACHE)
def record_task(settings: Settings, prompt_set: PromptSet, batch: AnswerBatch, judged: Judged, run_id: str,
                started_at: datetime) -> SafetyOutcome:  # fmt: skip
    return record(settings, prompt_set, batch, judged, run_id, started_at)
