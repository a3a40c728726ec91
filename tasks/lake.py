"""Prefect tasks over the storage layer (which itself knows nothing of Prefect)."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.catalog import refresh_catalog


@task(name="refresh-catalog", cache_policy=NO_CACHE)
def refresh_catalog_task(data_dir: Path) -> bool:
    return refresh_catalog(data_dir)
