"""The `answers` table, and which retrieval strategy answers use by default.

`answers`: one row per question of an `answer-questions` run (the run's rows land in one commit).
`citations` is JSON text: a list of objects with marker, paper_id, version, page_start, page_end,
text_sha256, node_id and title, in order of first mention; DuckDB reads it with `json_extract` or
`citations::JSON`. A question whose answer failed has `error` set and no answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from storage.evaluation import EVAL_RESULTS, EVAL_RUNS
from storage.lakehouse import Append, Lakehouse
from storage.schema import UTC_TIMESTAMP
from storage.tables import TableSpec

ANSWERS = TableSpec(
    "answers",
    pa.schema(
        [
            ("question", pa.string()),
            ("answer", pa.string()),  # with citation markers [paper_id p.X–Y]; or "The answer is not in the passages."
            ("citations", pa.string()),  # JSON list, see above
            ("strategy", pa.string()),  # the retrieval strategy that found the passages
            ("model", pa.string()),  # the LLM that answered, or local-extractive (quoted sentences, no model)
            ("created_at", UTC_TIMESTAMP),
            ("run_id", pa.string()),  # the flow run that asked
            ("query", pa.string()),  # what was searched
            ("k", pa.int32()),
            ("grounded", pa.bool_()),  # False: the passages do not contain the answer (or the model declined)
            ("refused", pa.bool_()),
            ("extractive", pa.bool_()),
            ("lake_snapshot", pa.int64()),  # the lake snapshot searched (DuckLake time travel re-reads its passages)
            ("error", pa.string()),  # one line, when this question got no answer
        ]
    ),
    key=("run_id", "question"),
)

PREFERRED_K = 5  # the evaluation's headline cut-off


def record_answers(house: Lakehouse, run_id: str, rows: list[dict]) -> int | None:
    """A run's answers in one commit; the new snapshot id (None when there were none)."""
    if not rows:
        return None
    return house.commit([Append(ANSWERS, ANSWERS.rows(rows))], message=f"answers {run_id}").snapshot_id


def latest_results(house: Lakehouse, embed_model: str) -> list[dict]:
    """strategy, k, mrr, hit_rate of the evaluation that speaks for this embedding model ([] if none).

    That is the latest run of each dataset, and of those the one with the most questions: a quick
    five-question check run after the nightly 58-question evaluation must not flip every answer's strategy."""
    if not (house.table_exists(EVAL_RUNS.name) and house.table_exists(EVAL_RESULTS.name)):
        return []
    return house.query(
        """SELECT e.strategy, e.k, e.mrr, e.hit_rate FROM eval_results e
           WHERE e.run_id = (
               SELECT run_id FROM eval_runs WHERE embed_model = ?
               QUALIFY row_number() OVER (PARTITION BY dataset ORDER BY started_at DESC, run_id DESC) = 1
               ORDER BY n_questions DESC, started_at DESC, run_id DESC LIMIT 1)""",
        [embed_model],
    ).to_pylist()


def best_strategy(results: list[dict], preference: Sequence[str]) -> str | None:
    """The strategy with the best MRR at k=5 (else the largest k evaluated), then hit rate; ties go to
    the earlier strategy in `preference`, which also lists the strategies that may be chosen."""
    rows = [r for r in results if r["strategy"] in preference and r["mrr"] is not None]
    if not rows:
        return None
    ks = {r["k"] for r in rows}
    k = PREFERRED_K if PREFERRED_K in ks else max(ks)
    at_k = [r for r in rows if r["k"] == k]
    best = min(at_k, key=lambda r: (-r["mrr"], -(r["hit_rate"] or 0.0), list(preference).index(r["strategy"])))
    return str(best["strategy"])


def paper_versions(house: Lakehouse, paper_ids: Sequence[str]) -> dict[str, str | None]:
    """paper id -> the version in the lake (arXiv v1, v2...; None for local PDFs)."""
    if not paper_ids:
        return {}
    rows = house.query("SELECT paper_id, version FROM papers WHERE list_contains(?, paper_id)", [list(paper_ids)]).to_pylist()
    return {r["paper_id"]: r["version"] for r in rows}
