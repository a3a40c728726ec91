"""`paperlake migrate`: a lake written by the per-paper layout's own code moves in whole."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from paperlake.errors import PaperlakeError
from storage.lake import Lake
from storage.lakehouse import NoLakeError, connect_read_only
from storage.migrate import migrate

LEGACY = Path(__file__).with_name("legacy_lake")


def _legacy_rows(folder: Path, table: str) -> int:
    return sum(pq.read_metadata(p).num_rows for p in (folder / table).glob("*.parquet") if p.name != "_schema.parquet")


def test_a_legacy_lake_moves_in_losing_nothing(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(LEGACY, data)
    with pytest.raises(NoLakeError, match="paperlake migrate"):
        connect_read_only(data)
    expected = {t: _legacy_rows(LEGACY, t) for t in ("papers", "nodes", "embeddings", "extractions")}
    done = migrate(data)
    assert done.rows == expected and expected["extractions"] > 0
    assert done.moved_to == data / "legacy-layout" and (done.moved_to / "nodes").is_dir()
    with connect_read_only(data) as conn:
        statuses = dict(conn.sql("SELECT paper_id, status FROM papers").fetchall())
        orphans = conn.sql("SELECT count(*) FROM nodes n FULL JOIN embeddings e USING (node_id) "
                           "WHERE e.node_id IS NULL OR n.node_id IS NULL OR e.paper_id <> n.paper_id").fetchone()  # fmt: skip
        dims = conn.sql("SELECT DISTINCT dim, len(embedding) FROM embeddings").fetchall()
    assert statuses["hep-th/9901001"] == "failed" and sorted(statuses.values()).count("ok") == 2
    assert orphans == (0,) and dims == [(256, 256)]
    lake = Lake(data)
    paper = next(p for p in statuses if p.startswith("local-") and lake.read_extractions(p))
    assert {n.kind for n in lake.read_nodes(paper)} == {"parent", "child", "summary", "question"}
    with pytest.raises(PaperlakeError, match="nothing to migrate"):
        migrate(data)
