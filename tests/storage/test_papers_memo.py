"""The skip check's memo: the committed `papers` state at one snapshot, answered without opening the lake."""

from __future__ import annotations

import shutil

import numpy as np

from storage.catalog import catalog_head
from storage.lake import Lake
from storage.papers_memo import SKIP_COLUMNS
from tests.helpers import node, paper_row

A, B = "2307.09288", "hep-th/9901001"


def _write(lake: Lake, pid: str, text: str = "some parent text", **row: object) -> None:
    nodes = [node(pid, "parent", 0, text)]
    lake.write_paper({**paper_row(pid), **row}, nodes, np.ones((1, 4), np.float32), "wordllama")


def test_a_remembered_lake_answers_a_new_handle_without_opening_the_lake(tmp_path):
    writer = Lake(tmp_path)
    _write(writer, A, title="Llama 2")
    assert writer.memo.path.exists() is False
    writer.remember_papers()

    reader = Lake(tmp_path)
    found = reader.current_papers([A, B])
    assert list(found) == [A] and set(found[A]) == set(SKIP_COLUMNS)
    assert (found[A]["status"], found[A]["title"]) == ("ok", "Llama 2")
    assert not reader.house.is_open  # the extensions were never loaded


def test_any_commit_since_makes_the_memo_miss_and_the_lake_answers(tmp_path):
    writer = Lake(tmp_path)
    _write(writer, A)
    writer.remember_papers()
    _write(Lake(tmp_path), A, status="failed", error="write_failed: injected")  # another process's commit

    reader = Lake(tmp_path)
    assert reader.current_papers([A])[A]["status"] == "failed"
    assert reader.house.is_open
    # ...and its answer is remembered: the next handle needs no lake
    again = Lake(tmp_path)
    assert again.current_papers([A])[A]["status"] == "failed" and not again.house.is_open


def test_a_commit_to_another_table_also_misses(tmp_path):
    """The memo is keyed on the lake's latest snapshot, whatever table it changed: never stale, sometimes a miss."""
    writer = Lake(tmp_path)
    _write(writer, A)
    writer.remember_papers()
    head = catalog_head(tmp_path)
    _write(writer, B)
    assert catalog_head(tmp_path) != head
    reader = Lake(tmp_path)
    assert set(reader.current_papers([A, B])) == {A, B} and reader.house.is_open


def test_a_torn_or_foreign_memo_is_a_miss_not_an_error(tmp_path):
    writer = Lake(tmp_path)
    _write(writer, A)
    writer.remember_papers()
    writer.memo.path.write_bytes(writer.memo.path.read_bytes()[:40])  # as a crash mid-write could not, but a disk could
    assert list(Lake(tmp_path).current_papers([A])) == [A]
    writer.memo.path.write_text("not arrow")
    assert list(Lake(tmp_path).current_papers([A])) == [A]


def test_a_lake_made_again_in_the_same_folder_never_reads_the_old_memo(tmp_path):
    first = Lake(tmp_path)
    _write(first, A)
    first.remember_papers()
    memo, old_head = first.memo.path.read_bytes(), catalog_head(tmp_path)
    first.house.close()
    shutil.rmtree(tmp_path / "lake")
    (tmp_path / "lake.sqlite").unlink()

    second = Lake(tmp_path)
    _write(second, B)  # the same number of commits: the same snapshot id as the memo's
    second.house.close()
    second.memo.path.write_bytes(memo)
    new_head = catalog_head(tmp_path)
    assert new_head is not None and old_head is not None
    assert new_head[0] == old_head[0] and new_head != old_head  # told apart by the commit time
    assert Lake(tmp_path).current_papers([A, B]).keys() == {B}


def test_no_lake_means_nothing_stored_and_no_lake_made(tmp_path):
    lake = Lake(tmp_path)
    assert lake.current_papers([A]) == {}
    assert not lake.house.exists() and not lake.memo.path.exists()
