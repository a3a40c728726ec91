"""Maintenance merges small files, keeps time travel within the retention, deletes what nothing references."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from storage.lake import Lake
from storage.maintain import maintain
from tests.helpers import node, paper_row


def _ingest(lake: Lake, paper_id: str, tag: str) -> None:
    nodes = [node(paper_id, "parent", j, f"{tag} parent {j} of {paper_id}") for j in range(12)]
    lake.write_paper(paper_row(paper_id), nodes, np.random.default_rng(0).random((12, 4), np.float32), "m")


def test_maintain_merges_files_keeps_recent_snapshots_and_cleans_up(tmp_path):
    lake = Lake(tmp_path)
    for i in range(8):
        _ingest(lake, f"2401.{i:05d}", "first")
    early = lake.house.snapshot_id()
    for i in range(3):
        _ingest(lake, f"2401.{i:05d}", "second")  # re-ingests: deletes
    orphan = tmp_path / "lake" / "main" / "nodes" / "ducklake-orphan-left-by-a-killed-writer.parquet"
    orphan.write_bytes(b"PAR1")

    done = maintain(lake.house, retention=timedelta(days=7), grace=timedelta(0))
    assert done.files_after < done.files_before and done.files_merged > 0
    assert not orphan.exists() and done.files_deleted > 0
    count = "SELECT count(*) AS n, count(DISTINCT paper_id) AS papers FROM nodes"
    assert lake.house.query(count).to_pylist() == [{"n": 96, "papers": 8}]
    # an older snapshot inside the retention still answers (time travel survives the merge)
    assert lake.house.query(f"{count} AT (VERSION => {early})").to_pylist() == [{"n": 96, "papers": 8}]
    assert lake.house.query(f"SELECT count(*) AS n FROM nodes AT (VERSION => {early}) WHERE text LIKE 'first%'").to_pylist() == [{"n": 96}]

    again = maintain(lake.house, retention=timedelta(days=7), grace=timedelta(0))
    assert again.snapshot_after == again.snapshot_before  # nothing left to do: no new snapshot

    expired = maintain(lake.house, retention=timedelta(0), grace=timedelta(0))
    assert expired.snapshots_expired > 0
