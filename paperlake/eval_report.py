"""What an evaluation run tells people: its metrics beside the previous comparable run's, and drops.

Rows are dicts with strategy, k and the four metrics of `paperlake.metrics.METRICS` (as in the
`eval_results` table). "Comparable" means the same questions (dataset_sha256) and embedding model;
the lake may have changed in between, which is one of the things a drop can reveal. The history and
comparison helpers also serve the safety evaluation, whose cells are (group_kind, group_name).
"""

from __future__ import annotations

from collections.abc import Sequence

from paperlake.metrics import METRICS

Row = dict[str, object]


def by_cell(rows: Sequence[Row], keys: Sequence[str] = ("strategy", "k")) -> dict[tuple, Row]:
    return {tuple(r[key] for key in keys): r for r in rows}


def previous_run_id(history: Sequence[Row], current_run_id: str) -> str | None:
    """The last run before the current one in `history` (rows ordered oldest first)."""
    runs = list(dict.fromkeys(str(r["run_id"]) for r in history))
    earlier = runs[: runs.index(current_run_id)] if current_run_id in runs else runs
    return earlier[-1] if earlier else None


def rows_of_run(history: Sequence[Row], run_id: str | None) -> list[Row]:
    return [r for r in history if r["run_id"] == run_id]


def _delta(now: object, before: object) -> float | None:
    if not isinstance(now, (int, float)) or not isinstance(before, (int, float)):
        return None
    return round(float(now) - float(before), 4)


def _rounded(value: object) -> float | None:
    return round(float(value), 4) if isinstance(value, (int, float)) else None  # None: not measurable in that run


def comparison_table(current: Sequence[Row], previous: Sequence[Row], keys: Sequence[str] = ("strategy", "k"),
                     metrics: Sequence[str] = METRICS) -> list[Row]:  # fmt: skip
    """One row per cell (strategy and k; or the caller's `keys`): each metric and its change against the
    previous run (None: no previous, or no value in one of the two runs). Rows sorted by their keys."""
    before = by_cell(previous, keys)
    table = []
    for cell, row in sorted(by_cell(current, keys).items()):
        out: Row = dict(zip(keys, cell, strict=True))
        for metric in metrics:
            out[metric] = _rounded(row[metric])
            out[f"change_{metric}"] = _delta(row[metric], before[cell][metric]) if cell in before else None
        table.append(out)
    return table


def regressions(current: Sequence[Row], previous: Sequence[Row], max_drop: float) -> list[str]:
    """Each metric that fell by more than `max_drop` (absolute), largest fall first: `hybrid mrr@5 0.912 -> 0.801 (-0.111)`."""
    before = by_cell(previous)
    found: list[tuple[float, str]] = []
    for (strategy, k), row in sorted(by_cell(current).items()):
        if (strategy, k) not in before:
            continue
        for metric in METRICS:
            old, new = float(before[(strategy, k)][metric]), float(row[metric])  # type: ignore[arg-type]
            if old - new > max_drop + 1e-12:  # float noise must not turn "equal to the threshold" into a drop
                found.append((new - old, f"{strategy} {metric}@{k} {old:.3f} -> {new:.3f} ({new - old:+.3f})"))
    return [text for _, text in sorted(found, key=lambda pair: pair[0])]


def regression_message(drops: Sequence[str], max_drop: float, previous_run: str, shown: int = 5) -> str:
    """One line naming the largest drops (the table artifact has every change)."""
    more = f"; and {len(drops) - shown} more" if len(drops) > shown else ""
    return f"retrieval quality dropped by more than {max_drop:g} against run {previous_run}: " + "; ".join(drops[:shown]) + more
