"""`paperlake ask` and `paperlake chat` as a user runs them: real processes, real lakes, stdin through a pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paperlake.answer_prompts import NOT_FOUND
from storage.answers import ANSWERS
from storage.lakehouse import Append, Lakehouse
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import write_answer_lake

PAPERLAKE = str(Path(sys.executable).with_name("paperlake"))
LENS_MARKER = "[2301.00001 p.2\u20133]"
FOCAL = "What is the focal length of a convex lens?"
ANSWER_KEYS = ["question", "query", "answer", "citations", "sources", "strategy", "model", "extractive", "grounded", "refused",
               "dropped_citations"]  # fmt: skip


def _run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAPERLAKE, *args], env={**os.environ, **env}, input=stdin, capture_output=True, text=True, timeout=600)


@pytest.fixture
def lake_env(tmp_path: Path) -> dict[str, str]:
    data_dir = tmp_path / "data"
    write_answer_lake(data_dir)
    return {"PAPERLAKE_DATA_DIR": str(data_dir)}


def test_ask_prints_the_answer_its_citations_and_the_sources(lake_env) -> None:
    shown = _run(["ask", FOCAL, "-k", "2"], lake_env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("Extractive answer (local-extractive")
    assert lines[1].startswith(f"The focal length of a convex lens is the distance from the lens to its focal point. {LENS_MARKER}")
    first_line = lines[lines.index(f"* 1. {LENS_MARKER} Lenses and Light") + 1]  # cited, then its first line, cut short
    assert first_line.startswith("     Refraction bends light as it crosses from air into glass.") and first_line.endswith("…")
    assert lines[lines.index(f"* 1. {LENS_MARKER} Lenses and Light") - 1].startswith("Sources (hybrid retrieval")

    as_json = _run(["ask", FOCAL, "-k", "2", "--strategy", "chunks", "--json"], lake_env)
    (answer,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert list(answer) == ANSWER_KEYS and answer["strategy"] == "chunks" and answer["extractive"] is True
    assert answer["citations"][0]["marker"] == LENS_MARKER and len(answer["sources"]) == 2

    missing = _run(["ask", "What is the boiling point of liquid nitrogen?"], lake_env)
    assert missing.stdout.splitlines()[1] == NOT_FOUND and not [line for line in missing.stdout.splitlines() if line.startswith("*")]


def test_one_line_errors_exit_2(lake_env, tmp_path) -> None:
    empty_lake = tmp_path / "empty"
    house = Lakehouse(empty_lake)
    house.commit([Append(ANSWERS, ANSWERS.empty())])  # a lake with no passages (empty appends write nothing)
    house.commit([Append(ANSWERS, ANSWERS.rows([{"run_id": "r", "question": "q"}]))])
    house.close()
    cases = [(["ask", "   "], lake_env, "empty question"), (["ask"], lake_env, "empty question"),
             (["ask", "lens", "--paper", "2399.99999"], lake_env, "unknown paper id 2399.99999"),
             (["ask", "lens"], {"PAPERLAKE_DATA_DIR": str(empty_lake)}, "no passages to search yet"),
             (["ask", "lens"], {"PAPERLAKE_DATA_DIR": str(tmp_path / "nowhere")}, "no lake in"),
             (["ask", "lens"], {**lake_env, "PAPERLAKE_LLM_MODEL": "gpt-4o-mini", "OPENAI_API_KEY": ""}, "OPENAI_API_KEY"),
             (["chat", "--paper", "2399.99999"], lake_env, "unknown paper id")]  # fmt: skip
    for args, env, words in cases:
        result = _run(args, env, stdin="lens\n")
        assert result.returncode == 2 and words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_ask_imports_neither_prefect_nor_llama_index(lake_env) -> None:
    script = ("import sys; from cli.main import main; main(['ask', 'focal length of a convex lens']);"
              "heavy = [m for m in ('prefect', 'llama_index.core') if m in sys.modules]; print('HEAVY', heavy)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", script], env={**os.environ, **lake_env}, capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_chat_over_a_pipe_rewrites_follow_ups_and_stops_at_exit(lake_env) -> None:
    piped = _run(["chat", "-k", "2", "--json"], lake_env, stdin=f"{FOCAL}\n\nHow is it measured?\nexit\nWhat about tomatoes?\n")
    assert piped.returncode == 0, piped.stderr
    first, second = [json.loads(line) for line in piped.stdout.splitlines()]  # nothing after `exit`
    assert first["query"] == FOCAL and first["citations"][0]["marker"] == LENS_MARKER
    assert second["question"] == "How is it measured?" and second["query"] == "How is it measured? (focal length convex lens)"
    text = _run(["chat", "-k", "2"], lake_env, stdin=f"{FOCAL}\nHow is it measured?")  # end of input, no newline: leaves too
    assert text.returncode == 0 and "(searched: How is it measured? (focal length convex lens))" in text.stdout
    assert text.stdout.count("Extractive answer") == 2


def test_chat_with_a_model_condenses_follow_ups_and_never_shows_the_key(lake_env, openai_server: FakeOpenAI) -> None:
    canary = "sk-canary-chat-0a1b2c3d4e5f"
    env = {**lake_env, **openai_server.env(canary), "PAPERLAKE_LLM_MODEL": "gpt-4o-mini"}
    standalone = "What is the focal length of a convex lens?"
    openai_server.reply_next(standalone, match="<history>")  # only the condense request holds a history block
    openai_server.reply_next(f"A convex lens focuses parallel rays onto its focal point {LENS_MARKER}.")
    openai_server.reply_next(f"It is the lens-to-focus distance {LENS_MARKER}; the key is {canary}.")
    result = _run(["chat", "-k", "2", "--json"], env, stdin="How does a convex lens focus light?\nAnd its focal length?\n")
    assert result.returncode == 0, result.stderr
    first, second = [json.loads(line) for line in result.stdout.splitlines()]
    assert first["grounded"] and first["query"] == "How does a convex lens focus light?"
    assert second["question"] == "And its focal length?" and second["query"] == standalone and second["grounded"]
    assert canary not in result.stdout + result.stderr and "[redacted]" in second["answer"]
    condense = next(r.body for r in openai_server.chat_requests() if "<history>" in r.body["messages"][1]["content"])
    system, user = (m["content"] for m in condense["messages"])
    assert "standalone question" in system and "Human: How does a convex lens focus light?\nAssistant: A convex lens" in user
    assert user.endswith("Follow up message: And its focal length?\n\nStandalone question:")


@pytest.mark.corpus
def test_ask_answers_the_solana_growth_rate_with_the_page_it_stands_on(corpus_dir, tmp_path, prefect_server) -> None:
    pdf = corpus_dir / "local" / "BlockchainSolana.pdf" if corpus_dir is not None else None
    if pdf is None or not pdf.is_file():
        pytest.skip("../shared/corpus/local/BlockchainSolana.pdf is absent")
    import pypdfium2

    document = pypdfium2.PdfDocument(str(pdf))  # the figure and its page, read from the PDF here
    pages = [document[i].get_textpage().get_text_range() for i in range(len(document))]
    assert [number for number, text in enumerate(pages, start=1) if "CAGR of 67.3%" in text] == [2]
    assert "One of the surveys reveals that the global block" in pages[0]  # the sentence starts on page 1
    env = {"PAPERLAKE_DATA_DIR": str(tmp_path / "data"), "PREFECT_API_URL": prefect_server}
    assert _run(["ingest", str(pdf)], env).returncode == 0
    question = "What is the projected growth rate of the blockchain market from 2020 to 2025?"
    answer = json.loads(_run(["ask", question, "--json"], env).stdout)
    assert answer["grounded"] and answer["extractive"] and "CAGR of 67.3% during 2020-2025" in answer["answer"]
    cited = answer["citations"][0]
    assert cited["page_start"] <= 2 <= cited["page_end"] and cited["marker"] == f"[{cited['paper_id']} p.1\u20132]"
    assert cited["marker"] in answer["answer"].split("67.3%")[1].split(".", 1)[1][:40]  # right after the sentence
    shown = _run(["ask", question], env).stdout
    print(f"\n$ paperlake ask {question!r}\n{shown}")
    assert shown.startswith("Extractive answer") and f"67.3% during 2020-2025 [1]. {cited['marker']}" in shown
