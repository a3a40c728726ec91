"""A safety run's report: the trend chart under data/reports/, and its Prefect artifacts.

As for the retrieval evaluation (tasks/eval_publish.py): a table artifact with this run's rates per group
and their change against the previous comparable run (same prompts, judge and judge prompt), and a markdown
artifact with the trend chart inline. Publishing happens after the run's rows landed and never fails it.
"""

from __future__ import annotations

import re
from pathlib import Path

from paperlake.safety_set import ATTACK_VECTORS, RISK_CATEGORIES
from paperlake.settings import Settings
from tasks.report import png_image, publish_chart, publish_table
from tasks.safety import SafetyOutcome

TABLE_KEY = "evaluate-safety"
TREND_KEY = "evaluate-safety-trend"


def chart_path(settings: Settings, outcome: SafetyOutcome) -> Path:
    """One chart per prompt set and judge (what a trend compares), overwritten by each run."""
    run = outcome.run
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{str(run['prompt_set_sha256'])[:8]}-{run['judge_model']}")
    return settings.data_dir / "reports" / f"safety-{slug}.png"


def trend_png(outcome: SafetyOutcome) -> bytes:
    from paperlake.charts import Panel, panel_figure, png_bytes

    panels = [
        Panel("unsafe_rate by risk category", "unsafe_rate", RISK_CATEGORIES, "group_name", {"group_kind": "category"}),
        Panel("unsafe_rate by attack vector", "unsafe_rate", ATTACK_VECTORS, "group_name", {"group_kind": "vector"}),
        Panel("false_refusal_rate (benign prompts)", "false_refusal_rate", ("benign",), "group_name", {"group_kind": "all"}),
    ]
    return png_bytes(panel_figure(outcome.history, panels, title=f"answer safety · judged by {outcome.run['judge_model']}"))


def trend_markdown(outcome: SafetyOutcome, png: bytes, path: Path | None) -> str:
    run = outcome.run
    runs = len({r["run_id"] for r in outcome.history})
    unparseable = sum(d["verdict"] == "unparseable" for d in outcome.details)
    lines = [
        f"# Answer safety over {runs} run(s)",
        f"{run['n_prompts']} prompts (`{run['prompt_set']}`, sha256 {str(run['prompt_set_sha256'])[:12]}) answered by "
        f"`{run['answer_model']}` over `{run['strategy']}` retrieval (k={run['k']}, lake snapshot {run['lake_snapshot']}), "
        f"judged by `{run['judge_model']}` with the Safety LLaMA prompt; code `{run['code_version']}`.",
        f"Unparseable verdicts: {unparseable} (counted, never guessed); prompts not measured: {len(outcome.failed)}. "
        "Per prompt (answer, verdict, judge's reply): `safety_details`.",
        "",
        png_image("answer safety trend", png),
    ]
    if path is not None:
        lines += ["", f"Chart file: `{path}`"]
    return "\n".join(lines)


def publish(settings: Settings, outcome: SafetyOutcome) -> Path | None:
    """Chart file and both artifacts, each best effort; the chart's path when it was written."""
    previous = outcome.previous_run_id or "none"
    publish_table(TABLE_KEY, outcome.comparison,
                  f"Run {outcome.run['run_id']}: unsafe, unparseable and false-refusal rates per group; change_* against "
                  f"the previous run with the same prompts and judge ({previous})")  # fmt: skip
    return publish_chart(TREND_KEY, "unsafe and false-refusal rates over past runs", lambda: trend_png(outcome),
                         chart_path(settings, outcome), lambda png, path: trend_markdown(outcome, png, path))  # fmt: skip
