"""The end-of-run index refresh: a changed lake's index is built while nobody waits; a failure only warns."""

from __future__ import annotations

import logging
from pathlib import Path

from paperlake.settings import Settings
from storage.lakehouse import Lakehouse
from storage.search_index import INDEXED_TABLES, index_root, open_current
from tasks.search_index import refresh_search_index
from tests.helpers import write_answer_lake


def _current_change(data_dir: Path) -> tuple[int, int | None]:
    found = open_current(index_root(data_dir, "wordllama"))
    return Lakehouse(data_dir, read_only=True).last_change(INDEXED_TABLES), (found.meta.lake_change if found else None)


def test_refresh_builds_the_index_of_a_changed_lake_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert refresh_search_index(settings) is None  # no lake: nothing to index, nothing created
    assert not (tmp_path / "data").exists()
    write_answer_lake(settings.data_dir)
    assert refresh_search_index(settings) is not None
    lake_change, index_change = _current_change(settings.data_dir)
    assert index_change == lake_change > 0
    builds = sorted(p.name for p in index_root(settings.data_dir, "wordllama").iterdir())
    refresh_search_index(settings)  # current already: no new build
    assert sorted(p.name for p in index_root(settings.data_dir, "wordllama").iterdir()) == builds


def test_a_refresh_that_fails_warns_and_leaves_the_lake_alone(tmp_path: Path, caplog) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    write_answer_lake(settings.data_dir)
    root = index_root(settings.data_dir, "wordllama")
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_text("a file where the index folder belongs")  # the build cannot write its folder
    with caplog.at_level(logging.WARNING, logger="tasks.search_index"):
        assert refresh_search_index(settings) is None
    assert "search index not refreshed" in caplog.text
    assert Lakehouse(settings.data_dir, read_only=True).last_change(INDEXED_TABLES) > 0
