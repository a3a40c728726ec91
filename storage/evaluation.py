"""The evaluation's tables in the lake, and the reads and writes the evaluation makes.

- `eval_runs`: one row per evaluation run. `lake_snapshot` is the snapshot evaluated, so any trend
  point can be re-run against the same data with DuckLake time travel.
- `eval_results`: one row per run, strategy and k: the mean metrics over the run's questions.
- `eval_details`: one row per run, strategy and question: the rank of the first relevant parent
  (NULL when none was in the top max(k)), so a user can see which questions a strategy misses.
- `eval_questions`: generated question sets, written once and reused by every later run.
A run's rows (runs, results, details) land in one commit: a reader sees the whole run or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from storage.lakehouse import Append, Lakehouse, Replace
from storage.schema import UTC_TIMESTAMP
from storage.tables import TableSpec

EVAL_RUNS = TableSpec(
    "eval_runs",
    pa.schema(
        [
            ("run_id", pa.string()),
            ("started_at", UTC_TIMESTAMP),
            ("dataset", pa.string()),  # the dataset file's absolute path, or generated-n<N>-seed<S>-<generator>
            ("dataset_sha256", pa.string()),  # of the file, or of a generated set's questions and sources
            ("embed_model", pa.string()),  # of the vectors searched
            ("llm_model", pa.string()),  # who wrote the lake's summaries and questions (the `metadata` strategy's nodes)
            ("code_version", pa.string()),  # git commit (+dirty) of the code that ran, else the package version
            ("lake_snapshot", pa.int64()),
            ("n_questions", pa.int32()),
        ]
    ),
    key=("run_id",),
)

EVAL_RESULTS = TableSpec(
    "eval_results",
    pa.schema(
        [
            ("run_id", pa.string()),
            ("strategy", pa.string()),
            ("k", pa.int32()),
            ("hit_rate", pa.float64()),
            ("mrr", pa.float64()),
            ("ndcg", pa.float64()),
            ("context_recall", pa.float64()),
        ]
    ),
    key=("run_id", "strategy", "k"),
)

EVAL_DETAILS = TableSpec(
    "eval_details",
    pa.schema(
        [
            ("run_id", pa.string()),
            ("strategy", pa.string()),
            ("question_id", pa.string()),
            ("question", pa.string()),
            ("first_relevant_rank", pa.int32()),  # NULL: no relevant parent in the top max(k)
        ]
    ),
    key=("run_id", "strategy", "question_id"),
)

EVAL_QUESTIONS = TableSpec(
    "eval_questions",
    pa.schema(
        [
            ("dataset", pa.string()),  # generated-n<N>-seed<S>-<generator>
            ("question_id", pa.string()),  # the source parent's node id (one question per parent)
            ("question", pa.string()),
            ("source_node_id", pa.string()),  # the relevant parent
            ("paper_id", pa.string()),
            ("reference_text", pa.string()),  # the source parent's text when the question was written
            ("generator", pa.string()),  # the model that wrote it: `local-extractive` is the offline stand-in
            ("generator_version", pa.string()),  # its prompt (or algorithm) version
            ("seed", pa.int64()),
            ("created_at", UTC_TIMESTAMP),
        ]
    ),
    key=("dataset", "question_id"),
)

EVAL_TABLES = (EVAL_RUNS, EVAL_RESULTS, EVAL_DETAILS, EVAL_QUESTIONS)


def parents_at(house: Lakehouse, snapshot: int) -> pa.Table:
    """node_id, paper_id, text of every parent passage at `snapshot` (time travel: what the index saw)."""
    return house.query(
        f"SELECT node_id, paper_id, text FROM nodes AT (VERSION => {int(snapshot)}) WHERE kind = 'parent' ORDER BY node_id"
    )


def extraction_models_at(house: Lakehouse, snapshot: int) -> str | None:
    """The models whose summaries and questions are in the lake at `snapshot`, comma-joined."""
    if not house.table_exists("extractions"):
        return None
    row = house.query(
        f"SELECT string_agg(DISTINCT model, ',' ORDER BY model) FROM extractions AT (VERSION => {int(snapshot)}) "
        "WHERE status = 'ok'"
    ).to_pylist()
    return next(iter(row[0].values())) if row else None


def stored_questions(house: Lakehouse, dataset: str) -> list[dict]:
    if not house.table_exists(EVAL_QUESTIONS.name):
        return []
    return house.query("SELECT * FROM eval_questions WHERE dataset = ? ORDER BY question_id", [dataset]).to_pylist()


def store_questions(house: Lakehouse, rows: list[dict]) -> None:
    """One generated set, whole. Replace, not Append: two first nights at once leave one set, not a doubled one."""
    dataset = rows[0]["dataset"]
    house.commit([Replace(EVAL_QUESTIONS, {"dataset": dataset}, EVAL_QUESTIONS.rows(rows))], message=f"eval questions {dataset}")


def record_rows(house: Lakehouse, parts: Sequence[tuple[TableSpec, list[dict]]], message: str) -> int | None:
    """Rows of several tables appended in one commit (a reader sees a whole run or nothing); the new snapshot id."""
    return house.commit([Append(spec, spec.rows(rows)) for spec, rows in parts], message=message).snapshot_id


def record_run(house: Lakehouse, run: dict, results: list[dict], details: list[dict]) -> int | None:
    """The run, its results and details in one commit; the new snapshot id."""
    parts = [(EVAL_RUNS, [run]), (EVAL_RESULTS, results), (EVAL_DETAILS, details)]
    return record_rows(house, parts, f"evaluation {run['run_id']}")


def comparable_results(house: Lakehouse, dataset_sha256: str, embed_model: str) -> list[dict]:
    """Results of every run over the same questions and embedding model, oldest run first.

    Rows: run_id, started_at, lake_snapshot, strategy, k and the four metrics."""
    if not house.table_exists(EVAL_RESULTS.name):
        return []
    return house.query(
        """SELECT r.run_id, r.started_at, r.lake_snapshot, e.strategy, e.k, e.hit_rate, e.mrr, e.ndcg, e.context_recall
           FROM eval_runs r JOIN eval_results e USING (run_id)
           WHERE r.dataset_sha256 = ? AND r.embed_model = ?
           ORDER BY r.started_at, r.run_id, e.strategy, e.k""",
        [dataset_sha256, embed_model],
    ).to_pylist()
