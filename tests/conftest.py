"""Shared fixtures: real local servers (arXiv stand-in, OpenAI-compatible) and PDFs the tests make."""

from __future__ import annotations

pytest_plugins = ["tests.fakes.arxiv_server", "tests.fakes.openai_server", "tests.pdfs"]
