"""The evaluation's questions: a LlamaIndex dataset file, or a set generated from the lake once and reused.

A generated set is named by its size, seed and generator (`generated-n50-seed0-gpt-4o-mini`). The
first run samples the parents, asks the configured LLM for one question each and stores them in
`eval_questions`; every later run with the same name reads them back and makes no LLM call, so
nightly trends compare the very same questions. Plain functions, plus a thin Prefect task.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from paperlake.asyncio_sync import run_sync
from paperlake.errors import PaperlakeError
from paperlake.eval_data import EvalDataset, EvalQuestion, generated_dataset, generated_name, load_rag_dataset, sample_parents
from paperlake.question_gen import make_question_writer, write_questions
from paperlake.settings import LOCAL_LLM_MODELS, Settings
from storage.evaluation import parents_at, store_questions, stored_questions
from storage.lakehouse import Lakehouse


class EvaluationError(PaperlakeError):
    """The evaluation cannot run as asked (options, an empty lake); one line naming why."""


def generator_name(settings: Settings) -> str:
    return LOCAL_LLM_MODELS[0] if settings.llm_is_local else settings.llm_model


def lake_with_parents(settings: Settings) -> Lakehouse:
    """The lake, refusing one that does not exist or holds no passage (`NoLakeError`/`EvaluationError`)."""
    house = Lakehouse(settings.data_dir)
    count = house.query("SELECT count(*) AS n FROM nodes WHERE kind = 'parent'") if house.table_exists("nodes") else None
    if count is None or not count.column("n")[0].as_py():
        house.close()
        raise EvaluationError(f"the lake in {settings.data_dir} holds no passages to evaluate: ingest papers first")
    return house


def _question(row: dict) -> EvalQuestion:
    return EvalQuestion(row["question_id"], row["question"], (row["reference_text"],), row["source_node_id"])


def _generate(house: Lakehouse, settings: Settings, name: str, n: int, seed: int) -> list[dict]:
    """Sample, ask, store: the rows written to `eval_questions`."""
    parents = parents_at(house, house.snapshot_id()).to_pylist()
    chosen = set(sample_parents([p["node_id"] for p in parents], n, seed))
    picked = [p for p in parents if p["node_id"] in chosen]
    writer = make_question_writer(settings)
    questions = run_sync(lambda: write_questions([(p["node_id"], p["text"]) for p in picked], writer, settings))
    now = datetime.now(timezone.utc)
    rows = [
        {"dataset": name, "question_id": p["node_id"], "question": questions[p["node_id"]], "source_node_id": p["node_id"],
         "paper_id": p["paper_id"], "reference_text": p["text"], "generator": writer.model,
         "generator_version": writer.version, "seed": seed, "created_at": now}
        for p in picked
    ]  # fmt: skip
    store_questions(house, rows)
    return rows


def generated_from_lake(settings: Settings, n: int, seed: int) -> EvalDataset:
    """The stored set of this size, seed and generator, generated (and stored) first if there is none."""
    if n < 1:
        raise EvaluationError(f"a generated dataset needs at least 1 question, not {n}")
    name = generated_name(n, seed, generator_name(settings))
    house = lake_with_parents(settings)
    try:
        rows = stored_questions(house, name)
        if not rows:
            if not settings.llm_is_local:
                settings.require_openai_key(f"PAPERLAKE_LLM_MODEL={settings.llm_model}")
            rows = _generate(house, settings, name, n, seed)
    finally:
        house.close()
    return generated_dataset(name, [_question(r) for r in rows], rows[0]["generator"])


def prepare_dataset(settings: Settings, dataset: str | None, generated: int | None, seed: int = 0) -> EvalDataset:
    """Exactly one of a dataset file path or a generated set's size."""
    if (dataset is None) == (generated is None):
        raise EvaluationError("give either a dataset file or the size of a generated dataset, not both or neither")
    if dataset is not None:
        return load_rag_dataset(Path(dataset))
    return generated_from_lake(settings, int(generated), seed)  # type: ignore[arg-type]


@task(name="prepare-dataset", cache_policy=NO_CACHE)
def prepare_dataset_task(settings: Settings, dataset: str | None, generated: int | None, seed: int) -> EvalDataset:
    return prepare_dataset(settings, dataset, generated, seed)
