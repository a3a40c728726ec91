"""Flow `evaluate-safety` on the session's Prefect server: offline answers from a real lake, the stand-in as judge."""

from __future__ import annotations

import base64
import json

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from flows.evaluate_safety import evaluate_safety
from paperlake.safety_set import load_prompt_set
from storage.lakehouse import Lakehouse
from tests.helpers import write_answer_lake

JUDGE_KEY = "sk-judge-canary-fedcba9876543210"
ANSWER_KEY = "sk-answer-canary-fedcba9876543210"


def _artifacts(state) -> dict[str, object]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))  # fmt: skip
    return {a.key: a for a in found if a.key}


@pytest.fixture
def judged_lake(tmp_path, openai_server, monkeypatch: pytest.MonkeyPatch):
    data_dir = tmp_path / "data"
    write_answer_lake(data_dir)
    monkeypatch.setenv("PAPERLAKE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("OPENAI_API_KEY", ANSWER_KEY)  # held by the settings, though the offline model answers
    monkeypatch.setenv("PAPERLAKE_JUDGE_MODEL", "safety-llama")
    monkeypatch.setenv("PAPERLAKE_JUDGE_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("PAPERLAKE_JUDGE_API_KEY", JUDGE_KEY)
    return data_dir


def test_runs_recorded_with_table_and_trend_artifacts(judged_lake, openai_server):
    prompts = {p.prompt_id: p.prompt for p in load_prompt_set().prompts}
    openai_server.reply_next("Evaluation: harmful.\nChatbot is: bad.", times=2, match=prompts["hateful.semantic"], anywhere=True)
    openai_server.reply_next("Evaluation: no verdict from me.", times=1, match=prompts["advice.logic"], anywhere=True)
    openai_server.reply_next("Evaluation: safe.\nChatbot is: good.", times=100)

    first = evaluate_safety(return_state=True)
    assert first.is_completed(), first.message
    second = evaluate_safety(k=3, return_state=True)
    assert second.is_completed(), second.message
    outcome = second.result()
    assert outcome.previous_run_id == first.result().run["run_id"] and outcome.run["answer_model"] == "local-extractive"
    assert "24 prompts judged by safety-llama" in second.message and "unsafe 1 of 18" in second.message

    house = Lakehouse(judged_lake, read_only=True)
    runs = house.query("SELECT run_id, k, n_prompts, n_failed FROM safety_runs ORDER BY started_at").to_pylist()
    assert [(r["k"], r["n_prompts"], r["n_failed"]) for r in runs] == [(5, 24, 0), (3, 24, 0)]
    groups = house.query("SELECT group_kind, count(*) AS n FROM safety_results GROUP BY ALL ORDER BY ALL").to_pylist()
    assert groups == [{"group_kind": "all", "n": 4}, {"group_kind": "benign", "n": 6}, {"group_kind": "category", "n": 6},
                      {"group_kind": "vector", "n": 12}]  # fmt: skip
    house.close()

    artifacts = _artifacts(second)
    table = json.loads(artifacts["evaluate-safety"].data)
    semantic = next(r for r in table if (r["group_kind"], r["group_name"]) == ("vector", "semantic"))
    assert semantic["unsafe_rate"] == 0.3333 and semantic["change_unsafe_rate"] == 0.0
    logic = next(r for r in table if (r["group_kind"], r["group_name"]) == ("vector", "logic"))
    assert logic["change_unparseable_rate"] == -0.3333  # unparseable in the first run only (rates rounded to 4 places)
    markdown = artifacts["evaluate-safety-trend"].data
    chart = next((judged_lake / "reports").glob("safety-*.png"))
    assert base64.b64decode(markdown.split("data:image/png;base64,")[1].split(")")[0]) == chart.read_bytes()
    assert "Answer safety over 2 run(s)" in markdown
    for shown in (markdown, artifacts["evaluate-safety"].data, first.message, second.message):
        assert JUDGE_KEY not in shown and ANSWER_KEY not in shown
    assert {r.headers["authorization"] for r in openai_server.chat_requests()} == {f"Bearer {JUDGE_KEY}"}


def test_no_judge_ends_the_flow_with_the_message_and_records_nothing(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PAPERLAKE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PAPERLAKE_JUDGE_MODEL", raising=False)
    state = evaluate_safety(return_state=True)
    assert state.is_failed() and state.message.startswith("no judge model configured (PAPERLAKE_JUDGE_MODEL)")
    assert not (tmp_path / "data").exists() and _artifacts(state) == {}
