"""Comparison with the previous run, drop detection, and the trend chart (a real PNG, a line per strategy)."""

from __future__ import annotations

import io

import pytest

from paperlake.charts import png_bytes, trend_figure
from paperlake.eval_report import comparison_table, previous_run_id, regression_message, regressions, rows_of_run

STRATEGIES = ("baseline", "chunks", "metadata", "hybrid")


def _row(run: str, strategy: str, k: int, hit: float, mrr: float = 0.5) -> dict:
    return {"run_id": run, "strategy": strategy, "k": k, "hit_rate": hit, "mrr": mrr, "ndcg": 0.5, "context_recall": 0.5}


def _history() -> list[dict]:
    rows = []
    for i, run in enumerate(["r1", "r2", "r3"]):
        for s, strategy in enumerate(STRATEGIES):
            rows += [_row(run, strategy, k, hit=0.5 + 0.1 * s + 0.01 * i) for k in (1, 5)]
    return rows


def test_previous_run_is_the_one_before():
    history = _history()
    assert previous_run_id(history, "r3") == "r2" and previous_run_id(history, "r1") is None
    assert previous_run_id(history, "not-yet-recorded") == "r3"


def test_drops_beyond_the_threshold_are_named_and_equal_ones_are_not():
    before = [_row("a", "hybrid", 5, hit=0.9, mrr=0.8), _row("a", "chunks", 5, hit=0.7)]
    now = [_row("b", "hybrid", 5, hit=0.8, mrr=0.75), _row("b", "chunks", 5, hit=0.7), _row("b", "metadata", 5, hit=0.1)]
    assert regressions(now, before, max_drop=0.05) == ["hybrid hit_rate@5 0.900 -> 0.800 (-0.100)"]  # mrr fell 0.05: not more
    assert regressions(now, before, max_drop=0.2) == []
    assert regressions(now, [], max_drop=0.0) == []  # no previous run: nothing to compare


def test_comparison_table_shows_changes():
    history = _history()
    table = comparison_table(rows_of_run(history, "r3"), rows_of_run(history, "r2"))
    first = table[0]
    assert (first["strategy"], first["k"]) == ("baseline", 1)
    assert first["hit_rate"] == 0.52 and first["change_hit_rate"] == 0.01 and first["change_mrr"] == 0.0
    assert all(row["change_ndcg"] is None for row in comparison_table(rows_of_run(history, "r1"), []))


def test_trend_chart_is_a_png_with_one_line_per_strategy():
    import matplotlib.image

    figure = trend_figure(_history(), STRATEGIES, [("hit_rate", 5), ("mrr", 5)], title="t")
    for axes in figure.axes:
        lines = axes.get_lines()
        assert [line.get_label() for line in lines] == list(STRATEGIES)
        assert all(list(line.get_xdata()) == [1, 2, 3] for line in lines)
    hybrid = figure.axes[0].get_lines()[3]
    assert list(hybrid.get_ydata()) == pytest.approx([0.8, 0.81, 0.82])
    png = png_bytes(figure)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[0] > 100 and pixels.shape[1] > 300


def test_the_message_names_the_largest_drops_first():
    before = [_row("a", s, 5, hit=0.9) for s in STRATEGIES]
    now = [_row("b", s, 5, hit=0.9 - 0.1 * (i + 1)) for i, s in enumerate(STRATEGIES)]
    drops = regressions(now, before, max_drop=0.05)
    assert [d.split()[0] for d in drops] == ["hybrid", "metadata", "chunks", "baseline"]
    message = regression_message(drops, 0.05, "run-a", shown=2)
    assert message.startswith("retrieval quality dropped by more than 0.05 against run run-a: hybrid hit_rate@5 0.900 -> 0.500")
    assert message.endswith("; and 2 more") and "\n" not in message
