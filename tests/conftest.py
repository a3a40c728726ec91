"""Shared fixtures: real local servers (arXiv stand-in, OpenAI-compatible, Prefect) and PDFs the tests make."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.fakes.arxiv_server", "tests.fakes.openai_server", "tests.pdfs"]

# Prefect's server would try to send telemetry, and these machines have no route out.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real temporary Prefect server (SQLite) for the session; yields its API URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield PREFECT_API_URL.value()
