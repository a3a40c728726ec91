"""An evaluation run's report: the trend chart under data/reports/, and its Prefect artifacts.

The table artifact holds this run's metrics with their change against the previous comparable run;
the markdown artifact shows the trend chart inline (a `data:image/png;base64,...` image, which
Prefect's UI renders). Publishing happens after the run's rows landed and never fails the run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from paperlake.metrics import METRICS
from paperlake.settings import Settings
from tasks.evaluate import EvaluationOutcome
from tasks.report import png_image, publish_chart, publish_table

TABLE_KEY = "evaluate-retrieval"
TREND_KEY = "evaluate-retrieval-trend"


def chart_panels(ks: Sequence[int]) -> list[tuple[str, int]]:
    """hit rate and MRR at 5 (the issue's headline cut), else at the largest k evaluated."""
    k = 5 if 5 in ks else max(ks)
    return [("hit_rate", k), ("mrr", k)]


def chart_path(settings: Settings, outcome: EvaluationOutcome) -> Path:
    """One chart per dataset and embedding model (what a trend compares), overwritten by each run."""
    run = outcome.run
    stem = Path(str(run["dataset"])).name.removesuffix(".json")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{stem}-{str(run['dataset_sha256'])[:8]}-{run['embed_model']}")
    return settings.data_dir / "reports" / f"retrieval-{slug}.png"


def trend_png(outcome: EvaluationOutcome, strategies: Sequence[str], ks: Sequence[int]) -> bytes:
    from paperlake.charts import png_bytes, trend_figure

    title = f"{Path(str(outcome.run['dataset'])).name} · {outcome.run['embed_model']}"
    return png_bytes(trend_figure(outcome.history, strategies, chart_panels(ks), title=title))


def trend_markdown(outcome: EvaluationOutcome, png: bytes, path: Path | None) -> str:
    run = outcome.run
    runs = len({r["run_id"] for r in outcome.history})
    lines = [
        f"# Retrieval quality over {runs} run(s)",
        f"Dataset `{run['dataset']}` ({run['n_questions']} questions), embeddings `{run['embed_model']}`, "
        f"lake snapshot {run['lake_snapshot']}, code `{run['code_version']}`; {outcome.unanswerable} question(s) match "
        "no passage of the lake (scored as misses).",
        "Missed (no relevant passage retrieved; which ones: `eval_details`): "
        + ", ".join(f"{strategy} {count}" for strategy, count in outcome.missed.items()) + ".",
        "",
        png_image("retrieval quality trend", png),
    ]
    if path is not None:
        lines += ["", f"Chart file: `{path}`"]
    return "\n".join(lines)


def publish(settings: Settings, outcome: EvaluationOutcome, strategies: Sequence[str], ks: Sequence[int]) -> Path | None:
    """Chart file and both artifacts, each best effort; the chart's path when it was written."""
    previous = outcome.previous_run_id or "none"
    publish_table(TABLE_KEY, outcome.comparison,
                  f"Run {outcome.run['run_id']} on {outcome.run['dataset']}: metrics per strategy and k; "
                  f"change_* against the previous run on the same questions and embedding model ({previous})")  # fmt: skip
    return publish_chart(TREND_KEY, f"{', '.join(METRICS[:2])} over past runs", lambda: trend_png(outcome, strategies, ks),
                         chart_path(settings, outcome), lambda png, path: trend_markdown(outcome, png, path))  # fmt: skip
