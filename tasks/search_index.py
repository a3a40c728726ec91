"""Bringing the derived search index up to date at the end of a run that changed the lake.

A search never serves a stale index (storage/search.py rebuilds it when the lake changed), but the
rebuild then lands on whoever searches first: a one-shot `paperlake query` or the nightly evaluation.
Flows that change nodes or embeddings refresh it instead, while nobody waits on it. A refresh that
fails is a warning: the papers landed, and the next search rebuilds the index itself.
"""

from __future__ import annotations

import logging
import time

from prefect import task
from prefect.cache_policies import NO_CACHE

from paperlake.redact import describe_error
from paperlake.settings import Settings
from storage.lakehouse import lake_exists
from storage.search import Searcher
from tasks.ingest import ingest_context

log = logging.getLogger(__name__)


def refresh_search_index(settings: Settings) -> float | None:
    """Seconds spent making the index of settings' embedding model current (None: no lake, or it failed)."""
    if not lake_exists(settings.data_dir):
        return None
    started = time.perf_counter()
    try:
        # Opening it builds the index when the lake changed since the last build; through the run's own
        # lake handle, which has DuckDB's extensions loaded already.
        house = ingest_context(settings).lake.house
        with house.all_threads(), Searcher(settings, house=house):
            pass
    except Exception as exc:  # noqa: BLE001 - the run's data landed; the next search rebuilds the index
        log.warning("search index not refreshed (the next search rebuilds it): %s", describe_error(exc))
        return None
    return time.perf_counter() - started


@task(name="refresh-search-index", cache_policy=NO_CACHE)
def refresh_search_index_task(settings: Settings) -> float | None:
    return refresh_search_index(settings)
