"""`paperlake query` as a user runs it: real processes over a lake the real ingest wrote from local PDFs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pdfs import make_pdf, write_pdf

PAPERLAKE = str(Path(sys.executable).with_name("paperlake"))
KEYS = ["query", "strategy", "rank", "node_id", "paper_id", "title", "score", "page_start", "page_end", "text",
        "matched_node_id", "matched_kind"]  # fmt: skip

OPTICS = ["Lenses and Light", "Refraction bends light as it crosses from air into glass.",
          "A convex lens focuses parallel rays onto the focal point of the lens.",
          "Chromatic aberration splits white light into colours at the image plane."]  # fmt: skip
GARDEN = ["Growing Tomatoes", "Tomato seedlings want warm soil and full sun in spring.",
          "Prune the side shoots so the plant puts its strength into the fruit.",
          "Water the roots deeply twice a week; wet leaves invite blight."]  # fmt: skip


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAPERLAKE, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


@pytest.fixture
def lake_env(tmp_path: Path, prefect_server: str) -> dict[str, str]:
    """A lake holding one local paper (optics), ingested by `paperlake ingest`."""
    env = {"PAPERLAKE_DATA_DIR": str(tmp_path / "data"), "PREFECT_API_URL": prefect_server}
    pdf = write_pdf(tmp_path / "optics.pdf", make_pdf(["\n".join(OPTICS)] * 2, title="Lenses and Light"))
    assert _run(["ingest", str(pdf)], env).returncode == 0
    return env


def _json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_json_has_exactly_the_contract_keys_and_a_new_paper_is_found_next_time(lake_env, tmp_path) -> None:
    first = _run(["query", "How does a convex lens focus light?", "--strategy", "baseline", "-k", "3", "--json"], lake_env)
    assert first.returncode == 0, first.stderr
    rows = _json_lines(first.stdout)
    assert rows and all(list(row) == KEYS for row in rows) and rows[0]["title"] == "Lenses and Light"
    assert rows[0]["rank"] == 1 and rows[0]["strategy"] == "baseline" and "convex lens" in rows[0]["text"]

    pdf = write_pdf(tmp_path / "garden.pdf", make_pdf(["\n".join(GARDEN)], title="Growing Tomatoes"))
    assert _run(["ingest", str(pdf)], lake_env).returncode == 0
    after = _json_lines(_run(["query", "tomato seedlings and blight", "-k", "1", "--json"], lake_env).stdout)
    assert after[0]["title"] == "Growing Tomatoes" and after[0]["strategy"] == "hybrid"  # the default strategy
    rrf = _json_lines(_run(["query", "tomato seedlings and blight", "-k", "1", "--json", "--fusion", "rrf"], lake_env).stdout)
    assert rrf[0]["node_id"] == after[0]["node_id"] and rrf[0]["score"] < 0.05  # ranks fused: at most 3 / 61

    only = _run(["query", "tomato seedlings", "--paper", rows[0]["paper_id"], "--json", "-k", "5"], lake_env)
    assert {row["paper_id"] for row in _json_lines(only.stdout)} == {rows[0]["paper_id"]}


def test_table_of_every_strategy_and_a_queries_file(lake_env, tmp_path) -> None:
    table = _run(["query", "chromatic aberration", "--strategy", "all", "-k", "2"], lake_env)
    assert table.returncode == 0, table.stderr
    assert "baseline | chunks | metadata | hybrid: chromatic aberration" in table.stdout  # side by side
    lines = table.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("rank "))
    assert lines[header].split() == ["rank", "baseline", "chunks", "metadata", "hybrid"]
    ranks = [line for line in lines[header + 1 :] if line.split()[0].isdigit()]
    assert [line.split()[0] for line in ranks] == [str(i + 1) for i in range(len(ranks))] and 1 <= len(ranks) <= 2
    labels = {cell for line in ranks for cell in line.split() if cell.startswith("[")}
    legend = [line for line in lines if line[:3] in labels]
    assert len(legend) == len(labels) and any("Lenses and Light" in line for line in legend)
    single = _run(["query", "chromatic aberration", "--strategy", "chunks", "-k", "2"], lake_env)
    assert "chunks: chromatic aberration" in single.stdout and single.stdout.count("rank  paper") == 1

    queries = tmp_path / "queries.txt"
    queries.write_text("convex lens\n\nrefraction in glass\n", encoding="utf-8")
    batch = _json_lines(_run(["query", "--queries-file", str(queries), "--strategy", "chunks", "-k", "1", "--json"], lake_env).stdout)
    assert [row["query"] for row in batch] == ["convex lens", "refraction in glass"]


def test_one_line_errors_exit_2(lake_env, tmp_path) -> None:
    cases = [(["query", "   "], "empty query"), (["query", "lens", "--paper", "2399.99999"], "2399.99999"), (["query"], "empty query")]
    for args, words in cases:
        result = _run(args, lake_env)
        assert result.returncode == 2 and words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    no_lake = _run(["query", "lens"], {"PAPERLAKE_DATA_DIR": str(tmp_path / "nowhere")})
    assert no_lake.returncode == 2 and "no lake" in no_lake.stderr and "Traceback" not in no_lake.stderr


def test_query_imports_neither_prefect_nor_llama_index(lake_env) -> None:
    script = (
        "import sys; from cli.main import main; main(['query', 'convex lens', '--strategy', 'all']);"
        "heavy = [m for m in ('prefect', 'llama_index.core') if m in sys.modules]; print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", script], env={**os.environ, **lake_env}, capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
