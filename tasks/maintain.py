"""Lake maintenance and migration as plain functions with thin Prefect tasks."""

from __future__ import annotations

from datetime import timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE

from paperlake.settings import Settings
from storage.lakehouse import Lakehouse, no_lake_error
from storage.maintain import DEFAULT_GRACE, Maintenance, maintain


def maintain_lake(settings: Settings, retention_days: float | None = None, grace: timedelta = DEFAULT_GRACE) -> Maintenance:
    """Merge, expire (older than `retention_days`, default the setting) and clean the lake."""
    house = Lakehouse(settings.data_dir)
    if not house.exists():
        raise no_lake_error(settings.data_dir)
    try:
        days = settings.snapshot_retention_days if retention_days is None else retention_days
        return maintain(house, timedelta(days=days), grace)
    finally:
        house.close()


@task(name="maintain-lake", cache_policy=NO_CACHE)
def maintain_lake_task(settings: Settings, retention_days: float | None = None) -> Maintenance:
    return maintain_lake(settings, retention_days)
