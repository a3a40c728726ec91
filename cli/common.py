"""What several commands share: Prefect's quiet mode, the progress bar, plain-text tables, a flow's outcome."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def quiet_prefect() -> None:
    """The CLI shows its own progress bar and summary; Prefect's INFO lines would tear the bar."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")
    # cli.prefect_api reports an unwritable PREFECT_HOME in one line of its own.
    warnings.filterwarnings("ignore", message="Failed to create the Prefect home directory")


def progress_bar() -> Callable[[str, int, int, str], None]:
    """A listener for `paperlake.progress`: one tqdm bar per stage, on stderr."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def listener(stage: str, done: int, total: int, label: str) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="paper" if stage == "ingest" else "parent", file=sys.stderr)
        bar.n = done
        bar.set_postfix_str(label, refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()

    return listener


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def print_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> None:
    """Left-aligned columns, a header line, one line per row; nothing for no rows."""
    if not rows:
        return
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip())


def flow_outcome(flow: Callable[..., Any], what: str, **parameters: Any) -> tuple[Any, Any]:
    """(state, outcome) of `flow` run in this process; a run with no outcome is one line (`PaperlakeError`)."""
    from paperlake.errors import PaperlakeError
    from paperlake.runs import run_here

    state = run_here(flow, **parameters)
    outcome = state.result(raise_on_failure=False)
    if isinstance(outcome, PaperlakeError):
        raise outcome
    if isinstance(outcome, BaseException) or outcome is None:
        raise PaperlakeError(f"{what} failed: {state.message or outcome}")
    return state, outcome


def end_of_run(state: Any, *, json_lines: bool = False) -> int:
    """The run's message (on stderr when it failed, or after JSON Lines so stdout stays parseable); 1 if it failed."""
    print(state.message or state.name, file=sys.stderr if state.is_failed() or json_lines else sys.stdout)
    return 1 if state.is_failed() else 0
