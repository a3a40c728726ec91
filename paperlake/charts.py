"""The retrieval-quality trend as a PNG: one panel per metric, one line per strategy, one point per run.

matplotlib is imported here only, inside the functions, with the Agg backend (no display, no GUI
toolkit): only the evaluation path pays for it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Row = dict[str, object]
DEFAULT_PANELS = (("hit_rate", 5), ("mrr", 5))


def _series(history: Sequence[Row], strategy: str, metric: str, k: int) -> tuple[list[int], list[float]]:
    """(run index, value) of one strategy's metric at k; runs are numbered in `history`'s order."""
    runs = list(dict.fromkeys(str(r["run_id"]) for r in history))
    points = {str(r["run_id"]): float(r[metric]) for r in history if r["strategy"] == strategy and r["k"] == k}  # type: ignore[arg-type]
    xs = [i for i, run in enumerate(runs, start=1) if run in points]
    return xs, [points[runs[i - 1]] for i in xs]


def trend_figure(history: Sequence[Row], strategies: Sequence[str], panels: Sequence[tuple[str, int]] = DEFAULT_PANELS,
                 title: str = "") -> Figure:  # fmt: skip
    """Metric per run (oldest first), a panel per (metric, k), a line per strategy labelled by name."""
    from matplotlib.figure import Figure  # a bare Figure draws with Agg and touches no global pyplot state

    figure = Figure(figsize=(5.0 * len(panels), 3.6), dpi=90, layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (metric, k) in zip(axes, panels, strict=True):
        for strategy in strategies:
            xs, ys = _series(history, strategy, metric, k)
            ax.plot(xs, ys, marker="o", markersize=3, label=strategy)
        ax.set_title(f"{metric}@{k}")
        ax.set_xlabel("run (oldest first)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend(loc="lower left", fontsize="small")
    if title:
        figure.suptitle(title, fontsize="medium")
    return figure


def png_bytes(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
