"""Keep the lake fast and small: merge small files, expire old snapshots, delete unreferenced files.

Every paper commit writes a few small Parquet files (and tiny ones are inlined into the catalog);
queries pay per file, so maintenance rewrites them into few large files sorted by `paper_id`.
Snapshots younger than the retention stay queryable by time travel (`AT (VERSION => n)`); files
only they reference stay until they expire. Files no snapshot references (merged away, expired, or
left by a killed writer) are deleted once older than a grace period, so a writer still working is
never robbed of a file it has written but not yet committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from storage.changes import ALIAS
from storage.duck import sql_literal
from storage.lakehouse import Lakehouse

log = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(hours=1)


@dataclass
class Maintenance:
    snapshot_before: int
    snapshot_after: int
    files_before: int  # data files the latest snapshot reads
    files_after: int
    inlined_flushed: int  # rows moved from the catalog into Parquet
    snapshots_expired: int
    files_merged: int
    files_deleted: int  # from disk: expired, merged-away or orphaned

    def summary(self) -> str:
        return (f"data files {self.files_before} -> {self.files_after}, {self.inlined_flushed} inlined rows flushed, "
                f"{self.files_merged} files merged, {self.snapshots_expired} snapshots expired, "
                f"{self.files_deleted} files deleted from disk")  # fmt: skip


def _interval(age: timedelta) -> str:
    return f"now() - INTERVAL '{int(age.total_seconds())} seconds'"


def _live_files(house: Lakehouse) -> int:
    with house.cursor() as cur:
        tables = [row[0] for row in cur.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [ALIAS]).fetchall()]  # fmt: skip
        return sum(cur.execute(f"SELECT count(*) FROM ducklake_list_files({sql_literal(ALIAS)}, ?)", [t]).fetchone()[0]
                   for t in tables)  # fmt: skip


def maintain(house: Lakehouse, retention: timedelta, grace: timedelta = DEFAULT_GRACE) -> Maintenance:
    """Run every maintenance step in order; a lake that needs none of it gets no new snapshot."""
    lake, before = sql_literal(ALIAS), house.snapshot_id()
    files_before = _live_files(house)
    with house.cursor() as cur:

        def call(sql: str) -> list[tuple]:
            return cur.execute(sql).fetchall()

        flushed = call(f"CALL ducklake_flush_inlined_data({lake})")
        expired = call(f"CALL ducklake_expire_snapshots({lake}, older_than => {_interval(retention)})")
        merged = call(f"CALL ducklake_merge_adjacent_files({lake})")
        call(f"CALL ducklake_rewrite_data_files({lake})")  # files mostly deleted by re-ingests
        merged += call(f"CALL ducklake_merge_adjacent_files({lake})")
        deleted = call(f"CALL ducklake_cleanup_old_files({lake}, older_than => {_interval(grace)})")
        deleted += call(f"CALL ducklake_delete_orphaned_files({lake}, older_than => {_interval(grace)})")
    result = Maintenance(
        snapshot_before=before, snapshot_after=house.snapshot_id(), files_before=files_before,
        files_after=_live_files(house), inlined_flushed=sum(int(row[-1]) for row in flushed),
        snapshots_expired=len(expired), files_merged=sum(int(row[2]) for row in merged), files_deleted=len(deleted),
    )  # fmt: skip
    log.info("lake maintained: %s", result.summary())
    return result
