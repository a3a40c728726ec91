"""The DuckLake layer on its own: any table, only differences written, columns added, time travel."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pyarrow as pa
import pytest

from storage.catalog import catalog_path, lake_exists
from storage.lakehouse import Append, Lakehouse, NoLakeError, Replace, connect_read_only
from storage.tables import TableSpec

RUNS = TableSpec("runs", pa.schema([("run_id", pa.string()), ("score", pa.float64())]), key=("run_id",))
RUNS_V2 = TableSpec("runs", pa.schema([("run_id", pa.string()), ("score", pa.float64()), ("note", pa.string())]), key=("run_id",))
DUCKDB_CLI = Path(sys.executable).with_name("duckdb")


def test_any_table_is_created_on_first_use_and_appended_to(tmp_path):
    house = Lakehouse(tmp_path)
    first = house.commit([Append(RUNS, pa.table({"run_id": ["a"], "score": [0.5]}))])
    second = house.commit([Append(RUNS, pa.table({"run_id": ["b"], "score": [0.7]}))])
    assert second.snapshot_id > first.snapshot_id
    assert house.query("SELECT run_id, score FROM runs ORDER BY 1").to_pylist() == [
        {"run_id": "a", "score": 0.5}, {"run_id": "b", "score": 0.7}]  # fmt: skip
    # time travel: the snapshot of the first commit holds one run
    assert house.query(f"SELECT count(*) AS n FROM runs AT (VERSION => {first.snapshot_id})").to_pylist() == [{"n": 1}]


def test_a_spec_that_gained_a_column_extends_the_table(tmp_path):
    house = Lakehouse(tmp_path)
    house.commit([Append(RUNS, pa.table({"run_id": ["a"], "score": [0.5]}))])
    Lakehouse(tmp_path).commit([Append(RUNS_V2, pa.table({"run_id": ["b"], "score": [0.1], "note": ["new"]}))])
    rows = Lakehouse(tmp_path).query("SELECT run_id, note FROM runs ORDER BY 1").to_pylist()
    assert rows == [{"run_id": "a", "note": None}, {"run_id": "b", "note": "new"}]


def test_replace_refuses_rows_outside_its_scope_and_repeated_keys(tmp_path):
    house = Lakehouse(tmp_path)
    with pytest.raises(ValueError, match="outside the replaced scope"):
        house.commit([Replace(RUNS, {"run_id": "a"}, pa.table({"run_id": ["b"], "score": [1.0]}))])
    with pytest.raises(ValueError, match="repeat a key"):
        house.commit([Append(RUNS, pa.table({"run_id": ["a", "a"], "score": [1.0, 2.0]}))])


def test_readers_need_a_lake_and_cannot_write(tmp_path):
    with pytest.raises(NoLakeError, match="PAPERLAKE_DATA_DIR"):
        Lakehouse(tmp_path).snapshot_id()
    Lakehouse(tmp_path).commit([Append(RUNS, pa.table({"run_id": ["a"], "score": [0.5]}))])
    with connect_read_only(tmp_path) as conn:
        assert conn.sql("SELECT count(*) FROM runs").fetchone() == (1,)
        with pytest.raises(Exception, match="read-only"):
            conn.sql("DELETE FROM runs")


def test_the_duckdb_cli_attaches_the_lake_from_anywhere_and_after_a_move(tmp_path):
    data = tmp_path / "data"
    Lakehouse(data).commit([Append(RUNS, pa.table({"run_id": ["a", "b"], "score": [0.5, 0.6]}))])
    moved = tmp_path / "moved"
    data.rename(moved)
    from storage.duck import load_statements
    from storage.lakehouse import attach_sql

    init = "; ".join([*load_statements(), attach_sql(moved, read_only=True), "USE lake"])
    out = subprocess.run([str(DUCKDB_CLI), "-csv", "-noheader", "-c", f"{init}; SELECT count(*) FROM runs"],
                         cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "2"


def test_a_spec_row_group_size_shapes_the_files_written_and_costs_no_snapshot(tmp_path):
    spec = TableSpec("rows", pa.schema([("paper_id", pa.string()), ("i", pa.int32())]), key=("i",), row_group_rows=2048)
    house = Lakehouse(tmp_path)
    house.commit([Append(spec, pa.table({"paper_id": ["p"] * 3000, "i": pa.array(range(3000), pa.int32())}))])
    assert house.snapshot_id() == 2  # the table's creation, then the rows: setting the option made none
    with house.cursor() as cur:
        files = [row[0] for row in cur.execute("SELECT data_file FROM ducklake_list_files('lake', 'rows')").fetchall()]
        groups = cur.execute("SELECT row_group_num_rows FROM parquet_metadata(?) GROUP BY ALL ORDER BY 1", [files]).fetchall()
    assert groups == [(952,), (2048,)]
    # Tables added to the lake later get theirs too (DuckDB's groups are whole vectors: multiples of 2048 rows)
    later = [TableSpec(f"rows{n}", spec.schema, key=("i",), row_group_rows=n) for n in (4096, 6144)]
    rows = pa.table({"paper_id": ["p"] * 10_000, "i": pa.array(range(10_000), pa.int32())})
    house.commit([Append(table, rows) for table in later])
    with house.cursor() as cur:
        for table in later:
            files = [row[0] for row in cur.execute("SELECT data_file FROM ducklake_list_files('lake', ?)", [table.name]).fetchall()]
            sizes = cur.execute("SELECT row_group_num_rows FROM parquet_metadata(?) GROUP BY ALL", [files]).fetchall()
            assert max(size for (size,) in sizes) == table.row_group_rows, table.name


def test_prepare_makes_the_lake_and_its_tables_once_and_a_reader_meanwhile_sees_no_lake(tmp_path):
    house = Lakehouse(tmp_path)
    with pytest.raises(NoLakeError):  # a reader of a lake not made yet: "nothing stored", no waiting
        Lakehouse(tmp_path).query("SELECT 1")
    house.prepare([RUNS])
    assert house.table_exists("runs") and house.query("SELECT count(*) AS n FROM runs").to_pylist() == [{"n": 0}]
    snapshot = house.snapshot_id()
    house.prepare([RUNS])
    Lakehouse(tmp_path).prepare([RUNS])  # another handle (another process) finds it made
    assert house.snapshot_id() == snapshot


def test_a_new_lake_appears_with_its_tables_already_in_it(tmp_path):
    """Nobody ever sees, or reads, a new lake whose tables are still being made: they are created in
    the catalog before it is linked into place (DuckLake has aborted on reads concurrent with that DDL)."""
    seen: list[set[str]] = []
    done = threading.Event()

    def watch() -> None:  # from the first moment the catalog exists, which tables does it hold?
        while not done.is_set():
            if lake_exists(tmp_path):
                with closing(sqlite3.connect(f"file:{catalog_path(tmp_path)}?mode=ro", uri=True)) as db:
                    seen.append({r[0] for r in db.execute("SELECT table_name FROM ducklake_table WHERE end_snapshot IS NULL")})
                return

    watcher = threading.Thread(target=watch)
    watcher.start()
    Lakehouse(tmp_path).prepare([RUNS, TableSpec("other", RUNS.schema, key=("run_id",))])
    done.set()
    watcher.join()
    assert seen == [{"runs", "other"}]
