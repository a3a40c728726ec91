"""A rebuild after a lake change tokenizes only new or changed passages and reads from the lake only the
vectors that changed, and writes what a build from nothing writes (storage/search_tokens.py,
storage/search_vectors.py)."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from storage.lake import Lake
from storage.maintain import maintain
from storage.search_index import SearchIndex
from tests.helpers import node
from tests.storage.test_search import axis, searcher, two_papers, write

_BUILT_FILES = ("vocab.npy", "vocab_ids.npy", "tokens_parents.npy", "tokens_children.npy", "token_lengths_parents.npy",
                "token_lengths_children.npy", "paper.npy", "parent.npy", "vectors.npy", "nodes.arrow")  # fmt: skip


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return two_papers(tmp_path / "data")


def _current(lake: Lake) -> SearchIndex:
    with searcher(lake) as s:
        s.search("axis 0", "hybrid", k=3)
        return s._fresh_index()  # noqa: SLF001 - the build itself is what is compared


def _from_nothing(lake: Lake, tmp_path: Path) -> SearchIndex:
    """The same lake's index built with no previous build to reuse, in a copy of the data folder."""
    copy = tmp_path / "copy"
    shutil.copytree(lake.data_dir, copy)
    shutil.rmtree(copy / "index")
    return _current(Lake(copy))


def _same_files(a: SearchIndex, b: SearchIndex) -> list[str]:
    names = [*_BUILT_FILES, *(str(p.relative_to(a.folder)) for p in a.folder.glob("bm25_*/*"))]
    return [name for name in names if (a.folder / name).read_bytes() != (b.folder / name).read_bytes()]


def test_a_new_paper_reuses_every_other_passages_tokens_and_builds_the_same_index(lake: Lake, tmp_path: Path) -> None:
    first = _current(lake)
    assert first.meta.reused_passages == 0
    write(lake, "2301.00003", [(node("2301.00003", "parent", 0, "A new paper about platypus wombats."), axis(5))],
          title="Paper C")  # fmt: skip
    second = _current(lake)
    assert second.meta.reused_passages == first.meta.n_parents + first.meta.n_children  # everything but paper C
    assert second.meta.reused_vectors == first.meta.n_rows  # every vector but paper C's, from the build before
    assert _same_files(second, _from_nothing(lake, tmp_path)) == []
    scores = second.bm25("parents", second.token_ids("platypus wombats"))  # the new passage is found by its words
    assert second.papers.column("paper_id")[int(second.paper[int(scores.argmax())])].as_py() == "2301.00003"


def test_a_changed_title_retokenizes_that_papers_passages(lake: Lake, tmp_path: Path) -> None:
    first = _current(lake)
    b0 = node("2301.00002", "parent", 0, "Paper B's only passage.")  # the fixture's paper B, same node
    write(lake, "2301.00002", [(b0, first.vectors[first.node_ids.to_pylist().index(b0.node_id)].copy())], title="Quokka")
    second = _current(lake)
    assert second.meta.reused_passages == first.meta.n_parents + first.meta.n_children - 1  # all but B's one passage
    assert _same_files(second, _from_nothing(lake, tmp_path)) == []
    with searcher(lake) as s:  # the title heads the passage it indexes
        assert s.search("quokka", "hybrid", k=1)[0].paper_id == "2301.00002"


def test_damaged_tokens_of_the_previous_build_are_not_reused(lake: Lake, tmp_path: Path) -> None:
    first = _current(lake)
    (first.folder / "token_lengths_children.npy").write_bytes(b"not an array")
    write(lake, "2301.00003", [(node("2301.00003", "parent", 0, "Another passage."), axis(5))], title="Paper C")
    second = _current(lake)
    assert second.meta.reused_passages == 0
    assert _same_files(second, _from_nothing(lake, tmp_path)) == []


def test_a_vector_that_changed_under_the_same_node_is_read_from_the_lake(lake: Lake, tmp_path: Path) -> None:
    first = _current(lake)
    b0 = node("2301.00002", "parent", 0, "Paper B's only passage.")  # the fixture's paper B, same node, new vector
    write(lake, "2301.00002", [(b0, axis(6))], title="Paper B")
    second = _current(lake)
    assert second.meta.reused_vectors == first.meta.n_rows - 1
    assert _same_files(second, _from_nothing(lake, tmp_path)) == []
    row = second.node_ids.to_pylist().index(b0.node_id)
    assert list(second.vectors[row]) == list(axis(6))


def test_expired_snapshots_mean_every_vector_is_read_again(lake: Lake, tmp_path: Path) -> None:
    _current(lake)
    write(lake, "2301.00003", [(node("2301.00003", "parent", 0, "Another passage."), axis(5))], title="Paper C")
    maintain(lake.house, retention=timedelta(0), grace=timedelta(0))  # the build's snapshot is gone
    second = _current(lake)
    assert second.meta.reused_vectors == 0 and second.meta.reused_passages > 0  # tokens need no change feed
    assert _same_files(second, _from_nothing(lake, tmp_path)) == []


def test_a_previous_build_that_names_no_snapshot_time_gives_no_vectors(lake: Lake, tmp_path: Path) -> None:
    first = _current(lake)
    meta = json.loads((first.folder / "meta.json").read_text())
    (first.folder / "meta.json").write_text(json.dumps({**meta, "snapshot_time": ""}))
    write(lake, "2301.00003", [(node("2301.00003", "parent", 0, "Another passage."), axis(5))], title="Paper C")
    maintain(lake.house, retention=timedelta(0), grace=timedelta(0))  # and its snapshot is gone: both times read ''
    second = _current(lake)
    assert second.meta.reused_vectors == 0 and second.meta.reused_passages > 0
    assert _same_files(second, _from_nothing(lake, tmp_path)) == []
