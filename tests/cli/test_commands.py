"""The `paperlake` command as a user runs it: a real process, real servers, real files."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import lake_footprint
from tests.pdfs import make_pdf, sample_pages

PAPERLAKE = str(Path(sys.executable).with_name("paperlake"))
LEGACY = Path(__file__).resolve().parents[1] / "storage" / "legacy_lake"


def _run(args: list[str], env: dict[str, str], timeout: float = 120, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAPERLAKE, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout,
                          input=stdin, cwd=cwd)  # fmt: skip


def test_no_route_to_arxiv_fails_in_seconds_naming_the_setting(tmp_path):
    started = time.monotonic()
    result = _run(["ingest", "2307.09288"], {"PAPERLAKE_ARXIV_URL": "http://127.0.0.1:9", "PAPERLAKE_DATA_DIR": str(tmp_path)})
    assert time.monotonic() - started < 5
    assert result.returncode == 2
    assert "PAPERLAKE_ARXIV_URL" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_arxiv_does_not_stop_local_pdfs(tmp_path, prefect_server):
    pdf = tmp_path / "local.pdf"
    pdf.write_bytes(make_pdf(sample_pages(2), title="Local"))
    env = {"PAPERLAKE_ARXIV_URL": "http://127.0.0.1:9", "PAPERLAKE_DATA_DIR": str(tmp_path / "data"),
           "PAPERLAKE_HTTP_MAX_ATTEMPTS": "1", "PREFECT_API_URL": prefect_server}  # fmt: skip
    result = _run(["ingest", str(pdf), "2307.09288"], env)
    assert result.returncode == 1
    assert "warning" in result.stderr and "PAPERLAKE_ARXIV_URL" in result.stderr
    status = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:]}
    assert sorted(status.values()) == ["failed", "ok"] and status["2307.09288"] == "failed"


def test_openai_model_without_key_is_named_before_any_work(tmp_path):
    env = {"PAPERLAKE_EMBED_MODEL": "text-embedding-3-small", "OPENAI_API_KEY": "", "PAPERLAKE_DATA_DIR": str(tmp_path)}
    result = _run(["ingest", str(tmp_path / "x.pdf")], env)
    assert result.returncode == 2 and "OPENAI_API_KEY" in result.stderr
    assert not (tmp_path / "papers").exists()


def test_bad_setting_is_one_clear_line(tmp_path):
    result = _run(["sql", "SELECT 1"], {"PAPERLAKE_ARXIV_DELAY": "soon"})
    assert result.returncode == 2 and "PAPERLAKE_ARXIV_DELAY" in result.stderr and "Traceback" not in result.stderr


def test_ingest_prints_a_summary_exits_1_on_failure_and_sql_reads_the_lake(tmp_path, arxiv_server, prefect_server):
    arxiv_server.add_paper("2307.09288", make_pdf(sample_pages(8)), title="Llama 2", authors=["H. Touvron"])
    env = {"PAPERLAKE_DATA_DIR": str(tmp_path / "data"), "PAPERLAKE_ARXIV_URL": arxiv_server.url,
           "PAPERLAKE_ARXIV_DELAY": "0", "PREFECT_API_URL": prefect_server}  # fmt: skip
    result = _run(["ingest", "2307.09288", "2307.99999", "not-an-id"], env)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["paper", "status", "pages", "nodes", "seconds", "reason"]
    status = {line.split()[0]: line.split()[1] for line in lines[1:4]}
    assert status == {"2307.09288": "ok", "2307.99999": "failed", "not-an-id": "failed"}
    assert "2 of 3 papers failed" in result.stderr and "ingest" in result.stderr  # the progress bar

    query = _run(["sql", "SELECT paper_id, status, n_pages FROM papers ORDER BY paper_id"], env)
    assert query.returncode == 0, query.stderr
    assert "2307.09288" in query.stdout and "ok" in query.stdout and "not_found" not in query.stdout
    bad = _run(["sql", "SELEC nonsense"], env)
    assert bad.returncode == 2 and "Parser Error" in bad.stderr and "Traceback" not in bad.stderr

    extracted = _run(["extract"], env)
    assert extracted.returncode == 0, extracted.stderr
    assert "model=local-extractive" in extracted.stdout and "failures=0" in extracted.stdout
    footprint = lake_footprint(tmp_path / "data")
    assert footprint[1]  # 8 pages: Parquet files, not only rows inlined in the catalog
    again = _run(["extract", "2307.09288"], env)
    assert again.returncode == 0 and "calls=0" in again.stdout and "cache_hits=" in again.stdout
    assert lake_footprint(tmp_path / "data") == footprint  # a warm extract: no new snapshot, no new file


def test_sql_imports_neither_prefect_nor_llama_index(tmp_path):
    script = (
        "import sys; from cli.main import main; main(['sql', 'SELECT count(*) FROM nodes']);"
        "heavy = [m for m in ('prefect', 'llama_index.core') if m in sys.modules]; print('HEAVY', heavy)"
    )
    env = {**os.environ, "PAPERLAKE_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_a_process_with_an_empty_cache_folder_takes_vectors_and_extractions_from_the_lake(tmp_path, openai_server, prefect_server):
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(make_pdf(sample_pages(8), title="Shared Through The Lake"))
    env = {"PAPERLAKE_DATA_DIR": str(tmp_path / "data"), "PAPERLAKE_EMBED_MODEL": "text-embedding-3-small",
           "PAPERLAKE_LLM_MODEL": "gpt-4o-mini", "PREFECT_API_URL": prefect_server, **openai_server.env()}  # fmt: skip
    first = _run(["ingest", "--extract", str(pdf)], env)
    assert first.returncode == 0, first.stderr
    assert openai_server.calls["embeddings"] and openai_server.calls["chat"]
    shutil.rmtree(tmp_path / "data" / "cache")  # the local SQLite caches: as on another machine sharing the lake
    calls = dict(openai_server.calls)

    again = _run(["ingest", "--force", "--extract", str(pdf)], env)  # a fresh process: re-ingest, then extract
    assert again.returncode == 0, again.stderr
    assert dict(openai_server.calls) == calls  # not one embedding or chat request reached the server


def test_every_command_pointed_at_a_folder_without_a_lake_says_so_in_one_line_and_creates_nothing(tmp_path):
    env = {"PAPERLAKE_DATA_DIR": str(tmp_path)}
    for args in (["sql", "SELECT 1"], ["shell"], ["maintain"], ["extract"]):
        result = _run(args, env, stdin="SELECT 1;\n")
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "PAPERLAKE_DATA_DIR" in result.stderr and result.stdout == "", args
    assert list(tmp_path.iterdir()) == []  # no lake, no cache: nothing


def test_migrate_maintain_then_sql_in_each_format_and_the_duckdb_shell(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(LEGACY, data)  # a lake in the per-paper layout, written by the code before DuckLake
    env = {"PAPERLAKE_DATA_DIR": str(data)}
    old = _run(["sql", "SELECT 1"], env)
    assert old.returncode == 2 and "paperlake migrate" in old.stderr and "PAPERLAKE_DATA_DIR" in old.stderr
    migrated = _run(["migrate"], env)
    assert migrated.returncode == 0 and migrated.stdout.startswith("migrated 3 papers (3 papers, 16 nodes, 16 embeddings, 2 extractions)")
    maintained = _run(["maintain"], env)
    assert maintained.returncode == 0 and maintained.stdout.startswith("data files "), maintained.stderr

    query = "SELECT paper_id, status, n_pages, authors FROM papers ORDER BY paper_id"
    as_csv = _run(["sql", query, "--format", "csv"], env, cwd=tmp_path)  # from any directory
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0] == ["paper_id", "status", "n_pages", "authors"]  # a header line, then the rows
    assert [row[:3] for row in rows[1:]] == [["hep-th/9901001", "failed", "0"], ["local-1c11b033d2b8", "ok", "2"],
                                             ["local-6f58f3eb4d52", "ok", "3"]]  # fmt: skip
    as_json = _run(["sql", query, "--format", "json"], env)
    objects = [json.loads(line) for line in as_json.stdout.splitlines()]  # one object a line
    assert [(o["paper_id"], o["status"], o["n_pages"], o["authors"]) for o in objects] == [
        (row[0], row[1], int(row[2]), []) for row in rows[1:]]  # fmt: skip
    table = _run(["sql", "SELECT kind, count(*) AS n FROM nodes GROUP BY 1 ORDER BY 1"], env)
    assert table.returncode == 0 and all(kind in table.stdout for kind in ("child", "parent", "question", "summary"))

    script = ".mode csv\nSELECT count(*) AS n FROM nodes;\nDELETE FROM nodes;\nSELECT count(*) AS n FROM embeddings;\n"
    shell = _run(["shell"], env, stdin=script, cwd=tmp_path)  # the DuckDB shell, the lake read-only as the default schema
    assert shell.stdout.split() == ["n", "16", "n", "16"]
    assert "read-only" in shell.stderr or "read only" in shell.stderr.lower(), shell.stderr
