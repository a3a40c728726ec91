"""Flow `maintain-lake`: merge small files, expire old snapshots, delete unreferenced files (weekly)."""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, State

from paperlake.settings import load_settings
from tasks.maintain import maintain_lake_task
from tasks.report import publish_table
from tasks.run_logs import start_run


@flow(name="maintain-lake")
def maintain_lake(retention_days: float | None = None) -> State:
    """Maintain the lake; snapshots younger than `retention_days` (default PAPERLAKE_SNAPSHOT_RETENTION_DAYS) stay."""
    settings = load_settings()
    start_run(settings)
    result = maintain_lake_task(settings, retention_days)
    publish_table("maintain-report", [result.__dict__], "What the lake's maintenance did")
    return Completed(message=result.summary(), data=result)
