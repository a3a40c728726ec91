"""`paperlake evaluate` as a user runs it: a real process, a real lake, the session's Prefect server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from storage.lake import nodes_to_table
from storage.lakehouse import Append, Lakehouse
from storage.schema import NODES
from tests.helpers import node
from tests.pdfs import make_pdf

PAPERLAKE = str(Path(sys.executable).with_name("paperlake"))


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAPERLAKE, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def _one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert all(word in result.stderr for word in words), result.stderr


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    env = {"PAPERLAKE_DATA_DIR": str(tmp_path / "data")}
    _one_line_error(_run(["evaluate", "--dataset", str(tmp_path / "nope.json")], env), "nope.json", "no such dataset file")
    bad = tmp_path / "bad.json"
    bad.write_text('{"examples": [{"query": "q?"}]}')
    _one_line_error(_run(["evaluate", "--dataset", str(bad)], env), "bad.json", "reference_contexts")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"examples": [{"query": "q?", "reference_contexts": ["some text"]}]}))
    _one_line_error(_run(["evaluate", "--dataset", str(good)], env), "no lake")
    Lakehouse(tmp_path / "data").commit([Append(NODES, nodes_to_table([node("p", "child", 0, "a child only")]))])
    _one_line_error(_run(["evaluate", "--generated", "3"], env), "no passages")
    usage = _run(["evaluate", "--generated", "0"], env)
    assert usage.returncode == 2 and "at least 1" in usage.stderr


def test_prints_the_metrics_table_and_json(tmp_path, prefect_server):
    pdf = tmp_path / "solana.pdf"
    pdf.write_bytes(make_pdf(["Solana orders transactions with Proof of History, a sequence of hashes.\n"
                              "Validators verify the sequence in parallel and vote with Tower BFT."]))  # fmt: skip
    env = {"PAPERLAKE_DATA_DIR": str(tmp_path / "data"), "PREFECT_API_URL": prefect_server}
    assert _run(["ingest", str(pdf)], env).returncode == 0
    dataset = tmp_path / "set.json"
    dataset.write_text(json.dumps({"examples": [{"query": "What orders Solana transactions?",
                                                 "reference_contexts": ["Solana orders transactions with Proof of History"]}]}))  # fmt: skip

    table = _run(["evaluate", "--dataset", str(dataset)], env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["strategy", "k", "hit_rate", "mrr", "ndcg", "context_recall", "n_questions"]
    assert {line.split()[0] for line in lines[1:17]} == {"baseline", "chunks", "metadata", "hybrid"}
    assert all(line.split()[2] == "1.0" for line in lines[1:17])  # one passage in the lake, and it is the answer

    as_json = _run(["evaluate", "--dataset", str(dataset), "--json"], env)
    assert as_json.returncode == 0, as_json.stderr
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(rows) == 16 and {r["k"] for r in rows} == {1, 2, 5, 10}
    assert set(rows[0]) == {"run_id", "dataset", "strategy", "k", "hit_rate", "mrr", "ndcg", "context_recall", "n_questions"}
