"""Flows run against a real temporary Prefect server (SQLite), one per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def lake_env(tmp_path: Path, arxiv_server, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings of a fresh lake pointed at the arXiv stand-in, as a user would set them."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PAPERLAKE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PAPERLAKE_ARXIV_URL", arxiv_server.url)
    monkeypatch.setenv("PAPERLAKE_ARXIV_DELAY", "0")
    monkeypatch.setenv("PAPERLAKE_HTTP_MAX_ATTEMPTS", "2")
    return data_dir
