"""Flows run against the session's real temporary Prefect server."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _prefect(prefect_server: str) -> str:
    return prefect_server


@pytest.fixture
def lake_env(tmp_path: Path, arxiv_server, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings of a fresh lake pointed at the arXiv stand-in, as a user would set them."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PAPERLAKE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PAPERLAKE_ARXIV_URL", arxiv_server.url)
    monkeypatch.setenv("PAPERLAKE_ARXIV_DELAY", "0")
    monkeypatch.setenv("PAPERLAKE_HTTP_MAX_ATTEMPTS", "2")
    return data_dir
