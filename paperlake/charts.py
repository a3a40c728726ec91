"""Evaluation trends as a PNG: one panel per metric, one line per strategy (or group), one point per run.

Used by the retrieval evaluation (a panel per metric@k, a line per strategy) and the safety evaluation
(a panel per group kind, a line per category, vector or benign group). matplotlib is imported here
only, inside the functions, with the Agg backend (no display, no GUI toolkit): only the evaluation
paths pay for it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Row = Mapping[str, object]
DEFAULT_PANELS = (("hit_rate", 5), ("mrr", 5))


@dataclass(frozen=True)
class Panel:
    """One plot: `metric` of the history rows matching `where`, one line per value of `line_key` in `lines`."""

    title: str
    metric: str
    lines: Sequence[str]
    line_key: str = "strategy"
    where: Mapping[str, object] = field(default_factory=dict)


def _series(history: Sequence[Row], panel: Panel, line: str) -> tuple[list[int], list[float]]:
    """(run index, value) of one line; runs are numbered in `history`'s order, missing values (None) skipped."""
    runs = list(dict.fromkeys(str(r["run_id"]) for r in history))
    points = {
        str(r["run_id"]): float(r[panel.metric])  # type: ignore[arg-type]
        for r in history
        if r[panel.line_key] == line and r[panel.metric] is not None and all(r[k] == v for k, v in panel.where.items())
    }
    xs = [i for i, run in enumerate(runs, start=1) if run in points]
    return xs, [points[runs[i - 1]] for i in xs]


def panel_figure(history: Sequence[Row], panels: Sequence[Panel], title: str = "") -> Figure:
    """Each panel's lines over the runs of `history` (oldest first); a legend wherever the lines change."""
    from matplotlib.figure import Figure  # a bare Figure draws with Agg and touches no global pyplot state

    figure = Figure(figsize=(5.0 * len(panels), 3.6), dpi=90, layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    shown: Sequence[str] | None = None
    for ax, panel in zip(axes, panels, strict=True):
        for line in panel.lines:
            xs, ys = _series(history, panel, line)
            ax.plot(xs, ys, marker="o", markersize=3, label=line)
        ax.set_title(panel.title)
        ax.set_xlabel("run (oldest first)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if list(panel.lines) != list(shown or []):  # one legend per set of lines, not one per panel
            ax.legend(loc="lower left", fontsize="small")
            shown = panel.lines
    if title:
        figure.suptitle(title, fontsize="medium")
    return figure


def trend_figure(history: Sequence[Row], strategies: Sequence[str], panels: Sequence[tuple[str, int]] = DEFAULT_PANELS,
                 title: str = "") -> Figure:  # fmt: skip
    """The retrieval trend: a panel per (metric, k), a line per strategy labelled by name."""
    return panel_figure(history, [Panel(f"{metric}@{k}", metric, strategies, "strategy", {"k": k}) for metric, k in panels], title)


def png_bytes(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
