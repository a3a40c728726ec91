"""Flow `evaluate-retrieval`: score every retrieval strategy on a dataset, keep the trend, flag drops."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from paperlake.eval_report import regression_message
from paperlake.settings import load_settings
from tasks.eval_dataset import EvaluationError, prepare_dataset_task
from tasks.eval_publish import publish
from tasks.evaluate import DEFAULT_KS, evaluate_task, retrieve_task
from tasks.run_logs import start_run


@flow(name="evaluate-retrieval")
def evaluate_retrieval(
    dataset: str | None = None,
    generated: int | None = None,
    seed: int = 0,
    ks: list[int] = list(DEFAULT_KS),  # noqa: B006, B008 - Prefect shows defaults in the UI
    max_drop: float = 0.05,
) -> State:
    """Hit rate, MRR, nDCG and context recall at each k for every strategy, recorded in the lake.

    `dataset`: a LlamaIndex LabelledRagDataset JSON file; or `generated`: that many questions made
    from the lake's parents (sampled with `seed`) once, then reused. The run ends Failed, naming the
    strategy and metric, when a metric falls by more than `max_drop` against the previous run on
    the same questions and embedding model.
    """
    settings = load_settings()
    start_run(settings)
    if not ks or min(ks) < 1:
        raise EvaluationError(f"cut-offs k must be positive integers, not {ks}")
    run_id = flow_run.get_id() or str(uuid.uuid4())
    started_at = datetime.now(timezone.utc)
    data = prepare_dataset_task(settings, dataset, generated, seed)
    retrieval = retrieve_task(settings, data, max(ks))
    outcome = evaluate_task(settings, data, retrieval, sorted(set(ks)), run_id, started_at, max_drop)
    publish(settings, outcome, list(retrieval.rankings), ks)
    if outcome.drops:
        return Failed(message=regression_message(outcome.drops, max_drop, str(outcome.previous_run_id)), data=outcome)
    unmatched = f"; {outcome.unanswerable} match no passage of the lake (scored as misses)" if outcome.unanswerable else ""
    return Completed(message=f"{len(data.questions)} questions, {len(retrieval.rankings)} strategies evaluated{unmatched}",
                     data=outcome)  # fmt: skip
