"""Flow `maintain-lake` (the weekly deployment): merges the small files of many commits, loses nothing."""

from __future__ import annotations

import numpy as np
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.maintain_lake import maintain_lake
from storage.lake import Lake
from tests.helpers import node, paper_row, snapshot_problems


def test_the_flow_merges_files_and_keeps_every_row(lake_env):
    lake = Lake(lake_env)
    for i in range(4):  # one commit, so a few small files, per paper
        paper_id = f"2401.{i:05d}"
        nodes = [node(paper_id, "parent", j, f"parent {j} of {paper_id}") for j in range(12)]
        lake.write_paper(paper_row(paper_id), nodes, np.eye(12, 4, dtype=np.float32), "m")
    lake.house.close()
    count = "SELECT count(*) AS n FROM nodes JOIN embeddings USING (node_id)"
    before = lake.house.query(count).to_pylist()

    state = maintain_lake(return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert result.files_after < result.files_before and state.message.startswith("data files ")
    assert lake.house.query(count).to_pylist() == before == [{"n": 48}]
    assert snapshot_problems(lake_env)[1] == {}
    with get_client(sync_client=True) as client:
        assert client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["maintain-report"])))
