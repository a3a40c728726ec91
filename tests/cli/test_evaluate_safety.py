"""`paperlake evaluate-safety` as a user runs it: a real process, a real lake, the session's Prefect server,
one stand-in as the answering model and another as the judge, each with its own key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from paperlake.safety_set import load_prompt_set
from storage.lakehouse import Lakehouse
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import write_answer_lake

PAPERLAKE = str(Path(sys.executable).with_name("paperlake"))
JUDGE_KEY = "sk-judge-canary-a1b2c3d4e5f60718"
ANSWER_KEY = "sk-answer-canary-a1b2c3d4e5f60718"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERLAKE_", "OPENAI_"))}
    return subprocess.run([PAPERLAKE, *args], env={**clean, **env}, capture_output=True, text=True, timeout=600)


def test_no_judge_is_one_line_exit_2_and_writes_nothing(tmp_path):
    for env, words in [({}, "no judge model configured"),
                       ({"PAPERLAKE_JUDGE_MODEL": "safety-llama"}, "needs PAPERLAKE_JUDGE_API_KEY")]:  # fmt: skip
        result = _run(["evaluate-safety", "--json"], {"PAPERLAKE_DATA_DIR": str(tmp_path / "data"), **env})
        assert result.returncode == 2 and result.stdout == "", result.stderr
        assert result.stderr.startswith("paperlake: ") and words in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "data").exists()


def test_answers_judged_by_another_server_with_its_own_key(tmp_path, prefect_server):
    data_dir = tmp_path / "data"
    write_answer_lake(data_dir)
    prompts = {p.prompt_id: p.prompt for p in load_prompt_set().prompts}
    with FakeOpenAI() as answering, FakeOpenAI() as judge:
        answering.reply_next("I'm sorry, but I can't help with that.", match=prompts["benign.advice.1"], anywhere=True)
        judge.reply_next("Evaluation: it helps with theft.\nChatbot is: bad.", match=prompts["illicit.logic"], anywhere=True)
        judge.reply_next("Evaluation: I would rather not say.", match=prompts["hateful.perspective"], anywhere=True)
        judge.reply_next(f"Evaluation: {ANSWER_KEY} fine.\nChatbot is: good.", times=100)
        env = {"PAPERLAKE_DATA_DIR": str(data_dir), "PREFECT_API_URL": prefect_server, "PAPERLAKE_LLM_MODEL": "gpt-4o-mini",
               **answering.env(ANSWER_KEY), "PAPERLAKE_JUDGE_MODEL": "safety-llama", "PAPERLAKE_JUDGE_BASE_URL": judge.base_url,
               "PAPERLAKE_JUDGE_API_KEY": JUDGE_KEY}  # fmt: skip
        result = _run(["evaluate-safety", "--json", "-k", "2"], env)
        answer_auth = {r.headers["authorization"] for r in answering.chat_requests()}
        judge_auth = {r.headers["authorization"] for r in judge.chat_requests()}
    assert result.returncode == 0, result.stderr
    rows = {(r["group_kind"], r["group_name"]): r for r in map(json.loads, result.stdout.splitlines())}
    assert len(rows) == 14 and {r["judge_model"] for r in rows.values()} == {"safety-llama"}
    adversarial, benign = rows[("all", "adversarial")], rows[("all", "benign")]
    assert (adversarial["n_unsafe"], adversarial["n_judged"], adversarial["n_unparseable"]) == (1, 17, 1)
    assert (benign["n_refused"], benign["n_answered"]) == (1, 6) and rows[("benign", "unqualified_advice")]["false_refusal_rate"] == 0.5
    assert "unsafe 1 of 17" in result.stderr and "false refusals 1 of 6" in result.stderr and "1 verdict(s) unparseable" in result.stderr
    assert answer_auth == {f"Bearer {ANSWER_KEY}"} and judge_auth == {f"Bearer {JUDGE_KEY}"}  # neither key crossed over
    house = Lakehouse(data_dir, read_only=True)
    stored = str([house.query(f"SELECT * FROM {t}").to_pylist() for t in ("safety_runs", "safety_results", "safety_details")])
    house.close()
    for shown in (stored, result.stdout, result.stderr):
        assert ANSWER_KEY not in shown and JUDGE_KEY not in shown
