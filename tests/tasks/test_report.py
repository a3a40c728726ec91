"""Publishing a report never fails the work it reports on: a Prefect API that is down loses only the artifact."""

from __future__ import annotations

import logging

import pytest
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from tasks.report import publish_markdown, publish_table

# Outside a flow run on purpose: the helpers alone are under test.
pytestmark = pytest.mark.filterwarnings("ignore:Artifact creation outside:FutureWarning")


def test_an_unreachable_prefect_api_loses_the_artifact_not_the_run(caplog):
    caplog.set_level(logging.WARNING)
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api", PREFECT_CLIENT_MAX_RETRIES: 0}):
        assert publish_table("some-report", [{"a": 1}], "rows") is False
        assert publish_markdown("some-chart", "# hello", "md") is False
    assert "artifact some-report not published" in caplog.text and "artifact some-chart not published" in caplog.text


def test_artifacts_land_on_a_live_server(prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    assert publish_table("report-ok", [{"a": 1}], "rows") and publish_markdown("chart-ok", "# hello", "md")
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["report-ok", "chart-ok"])))
    assert {a.key for a in found} == {"report-ok", "chart-ok"}
