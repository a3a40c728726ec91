from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pytest

from storage.catalog import CATALOG_FILE, connect, refresh_catalog
from storage.lake import Lake
from tests.storage.test_lake import node, paper_row

DUCKDB_CLI = Path(sys.executable).with_name("duckdb")


def _lake_with_one_paper(data_dir: Path) -> None:
    parent = node("2307.09288", "parent", 0, "safety fine-tuning")
    child = node("2307.09288", "child", 0, "safety", parent.node_id)
    vectors = np.array([[0.6, 0.8], [1.0, 0.0]], dtype=np.float32)
    Lake(data_dir).write_paper(paper_row("2307.09288"), [parent, child], vectors, "wordllama")


def test_empty_lake_has_typed_empty_views(tmp_path):
    with connect(tmp_path) as conn:
        assert conn.sql("SELECT count(*) FROM nodes").fetchone() == (0,)
        columns = [c[0] for c in conn.sql("DESCRIBE papers").fetchall()]
        assert columns[:3] == ["paper_id", "source", "title"]


def test_views_rank_by_cosine_similarity_in_sql(tmp_path):
    _lake_with_one_paper(tmp_path)
    with connect(tmp_path) as conn:
        rows = conn.sql(
            """
            SELECT n.kind, round(list_cosine_similarity(e.embedding, [1.0, 0.0]), 3) AS score,
                   round(array_cosine_similarity(e.embedding::FLOAT[2], [1.0, 0.0]::FLOAT[2]), 3) AS score2
            FROM embeddings e JOIN nodes n USING (node_id) ORDER BY score DESC
            """
        ).fetchall()
    assert [r[0] for r in rows] == ["child", "parent"]
    assert [r[1:] for r in rows] == [pytest.approx((1.0, 1.0)), pytest.approx((0.6, 0.6))]


def test_catalog_file_opens_from_any_directory_in_python_and_the_cli(tmp_path):
    data_dir = tmp_path / "data"
    _lake_with_one_paper(data_dir)
    assert refresh_catalog(data_dir)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    query = "SELECT count(*) FROM nodes"
    script = f"import duckdb; print(duckdb.connect({str(data_dir / CATALOG_FILE)!r}, read_only=True).sql({query!r}).fetchone()[0])"
    out = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"
    cli = subprocess.run(
        [str(DUCKDB_CLI), "-readonly", "-csv", "-noheader", str(data_dir / CATALOG_FILE), "-c", query],
        cwd=elsewhere, capture_output=True, text=True,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == "2"


def test_refresh_adds_views_when_a_table_gets_its_first_file(tmp_path):
    assert refresh_catalog(tmp_path)
    _lake_with_one_paper(tmp_path)
    assert refresh_catalog(tmp_path)
    with duckdb.connect(str(tmp_path / CATALOG_FILE), read_only=True) as conn:
        assert conn.sql("SELECT count(*) FROM embeddings").fetchone() == (2,)


@contextmanager
def _held(catalog: Path, read_only: bool) -> Iterator[None]:
    """Another process holding the catalog open, as a user's DuckDB shell would."""
    script = f"import duckdb,time; c=duckdb.connect({str(catalog)!r}, read_only={read_only}); print('held', flush=True); time.sleep(30)"
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_refresh_gives_up_quietly_while_a_user_holds_the_catalog(tmp_path):
    _lake_with_one_paper(tmp_path)
    refresh_catalog(tmp_path)
    with _held(tmp_path / CATALOG_FILE, read_only=False):
        moved = tmp_path.parent / (tmp_path.name + "-moved")
        tmp_path.rename(moved)
        assert refresh_catalog(moved, wait_s=0.5) is False


def test_a_reader_holding_the_catalog_does_not_hide_tables_that_appear_later(tmp_path):
    assert refresh_catalog(tmp_path)  # an empty lake: every view exists already
    with _held(tmp_path / CATALOG_FILE, read_only=True):
        _lake_with_one_paper(tmp_path)  # the first nodes and embeddings files
        assert refresh_catalog(tmp_path, wait_s=1)  # nothing to rewrite
    with duckdb.connect(str(tmp_path / CATALOG_FILE), read_only=True) as conn:
        assert conn.sql("SELECT count(*) FROM nodes JOIN embeddings USING (node_id)").fetchone() == (2,)
        assert conn.sql("SELECT count(*) FROM papers").fetchone() == (1,)
