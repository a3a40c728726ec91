"""The safety evaluation's tables in the lake, and the reads and writes it makes.

- `safety_runs`: one row per run: who answered (model, retrieval strategy, k, lake snapshot), who judged
  (judge model, judge prompt hash), which prompts (prompt_set_sha256), the code, and how many prompts
  could not be measured (n_failed).
- `safety_results`: one row per run and group: group_kind 'category' | 'vector' | 'benign' | 'all',
  group_name (not `group`, an SQL keyword every query would have to quote), the rates and their counts
  (see paperlake.safety_metrics). Rates are NULL when nothing could be measured, never 0.
- `safety_details`: one row per run and prompt: the prompt, the answer judged, the verdict
  (good | bad | unparseable | judge_failed | not_answered), whether the answer refused, and the judge's reply.
A run's rows land in one commit: a reader sees the whole run or nothing.
"""

from __future__ import annotations

import pyarrow as pa

from storage.evaluation import record_rows
from storage.lakehouse import Lakehouse
from storage.schema import UTC_TIMESTAMP
from storage.tables import TableSpec

SAFETY_RUNS = TableSpec(
    "safety_runs",
    pa.schema(
        [
            ("run_id", pa.string()),
            ("started_at", UTC_TIMESTAMP),
            ("judge_model", pa.string()),
            ("answer_model", pa.string()),  # the LLM that answered, or local-extractive
            ("strategy", pa.string()),  # the retrieval strategy the answers searched with
            ("code_version", pa.string()),  # git commit (+dirty) of the code that ran, else the package version
            ("lake_snapshot", pa.int64()),  # the snapshot searched (DuckLake time travel re-reads its passages)
            ("n_prompts", pa.int32()),
            ("prompt_set_sha256", pa.string()),  # of the prompts: runs compare only on one set
            ("prompt_set", pa.string()),  # the set's file name
            ("judge_prompt_sha256", pa.string()),  # of the judge's prompt template
            ("k", pa.int32()),  # passages retrieved per prompt
            ("embed_model", pa.string()),
            ("n_failed", pa.int32()),  # prompts not answered or not judged after retries (not rated)
        ]
    ),
    key=("run_id",),
)

SAFETY_RESULTS = TableSpec(
    "safety_results",
    pa.schema(
        [
            ("run_id", pa.string()),
            ("group_kind", pa.string()),  # category | vector | benign | all
            ("group_name", pa.string()),  # a risk category, an attack vector; for 'all': adversarial | benign
            ("n", pa.int32()),
            ("unsafe_rate", pa.float64()),  # judged bad / judged (good or bad)
            ("unparseable_rate", pa.float64()),  # replies without a verdict / judge replies
            ("false_refusal_rate", pa.float64()),  # refused / answered; benign groups only
            ("n_judged", pa.int32()),
            ("n_unsafe", pa.int32()),
            ("n_unparseable", pa.int32()),
            ("n_answered", pa.int32()),
            ("n_refused", pa.int32()),  # answers that declined (on adversarial prompts: the intended outcome)
            ("n_failed", pa.int32()),
        ]
    ),
    key=("run_id", "group_kind", "group_name"),
)

SAFETY_DETAILS = TableSpec(
    "safety_details",
    pa.schema(
        [
            ("run_id", pa.string()),
            ("prompt_id", pa.string()),
            ("category", pa.string()),
            ("vector", pa.string()),  # NULL for benign prompts
            ("benign", pa.bool_()),
            ("prompt", pa.string()),
            ("answer", pa.string()),  # what was judged (NULL: not answered)
            ("verdict", pa.string()),  # good | bad | unparseable | judge_failed | not_answered
            ("refused", pa.bool_()),  # the answer declined (NULL: not answered)
            ("grounded", pa.bool_()),  # the answer cites the passages
            ("judge_reply", pa.string()),  # the judge's evaluation, redacted and bounded
            ("error", pa.string()),  # why unparseable or failed, one line
        ]
    ),
    key=("run_id", "prompt_id"),
)

SAFETY_TABLES = (SAFETY_RUNS, SAFETY_RESULTS, SAFETY_DETAILS)


def record_safety_run(house: Lakehouse, run: dict, results: list[dict], details: list[dict]) -> int | None:
    """The run, its results and details in one commit; the new snapshot id."""
    parts = [(SAFETY_RUNS, [run]), (SAFETY_RESULTS, results), (SAFETY_DETAILS, details)]
    return record_rows(house, parts, f"safety evaluation {run['run_id']}")


def comparable_safety_results(house: Lakehouse, prompt_set_sha256: str, judge_model: str, judge_prompt_sha256: str) -> list[dict]:
    """Results of every run with the same prompts, judge and judge prompt, oldest run first.

    Rows: run_id, started_at, answer_model, group_kind, group_name and the three rates."""
    if not house.table_exists(SAFETY_RESULTS.name):
        return []
    return house.query(
        """SELECT r.run_id, r.started_at, r.answer_model, s.group_kind, s.group_name,
                  s.unsafe_rate, s.unparseable_rate, s.false_refusal_rate
           FROM safety_runs r JOIN safety_results s USING (run_id)
           WHERE r.prompt_set_sha256 = ? AND r.judge_model = ? AND r.judge_prompt_sha256 = ?
           ORDER BY r.started_at, r.run_id, s.group_kind, s.group_name""",
        [prompt_set_sha256, judge_model, judge_prompt_sha256],
    ).to_pylist()
