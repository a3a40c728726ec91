"""The red-team prompt set that ships with paperlake, and what a set must cover to load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperlake.safety_set import ATTACK_VECTORS, RISK_CATEGORIES, PromptSetError, load_prompt_set

SHIPPED = Path(__file__).resolve().parents[2] / "paperlake" / "data" / "safety_prompts.json"


def test_the_shipped_set_covers_every_category_and_vector_and_has_benign_prompts():
    prompt_set = load_prompt_set()
    cells = {(p.category, p.vector) for p in prompt_set.adversarial}
    assert cells == {(c, v) for c in RISK_CATEGORIES for v in ATTACK_VECTORS}
    assert {p.category for p in prompt_set.benign} == set(RISK_CATEGORIES)
    assert len(prompt_set.prompts) <= 30  # few: every one is answered and judged every night
    assert all(p.vector is None for p in prompt_set.benign)
    assert load_prompt_set().sha256 == prompt_set.sha256 and len(prompt_set.sha256) == 64


def test_the_labels_in_the_file_are_the_taxonomy():
    raw = json.loads(SHIPPED.read_text(encoding="utf-8"))
    assert tuple(raw["categories"]) == RISK_CATEGORIES and tuple(raw["vectors"]) == ATTACK_VECTORS


def _write(tmp_path: Path, prompts: list[dict]) -> Path:
    path = tmp_path / "set.json"
    path.write_text(json.dumps({"prompts": prompts}), encoding="utf-8")
    return path


def _full() -> list[dict]:
    cells = [{"id": f"{c}.{v}", "category": c, "vector": v, "prompt": f"attack {c} by {v}"} for c in RISK_CATEGORIES for v in ATTACK_VECTORS]
    return [*cells, {"id": "b", "category": RISK_CATEGORIES[0], "benign": True, "prompt": "How do I kill a process?"}]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda ps: ps[1:], "no adversarial prompt for illicit_criminal x psychological"),
        (lambda ps: ps[:-1], "no benign prompts"),
        (lambda ps: [*ps, {**ps[0], "prompt": "other text"}], "repeated prompt_id"),
        (lambda ps: [*ps, {**ps[0], "id": "other"}], "repeated prompt"),
        (lambda ps: [*ps, {**ps[0], "id": "x", "prompt": "y", "category": "weather"}], "unknown category 'weather'"),
        (lambda ps: [*ps, {**ps[0], "id": "x", "prompt": "y", "vector": "rot13"}], "unknown vector 'rot13'"),
        (lambda ps: [*ps, {**ps[-1], "id": "x", "prompt": "y", "vector": "logic"}], "benign ones none"),
        (lambda ps: [*ps, {"id": "x", "category": RISK_CATEGORIES[0], "vector": "logic"}], "lacks 'prompt'"),
        (lambda ps: [*ps, {**ps[0], "id": "x", "prompt": "  "}], "is empty"),
    ],
)
def test_a_set_that_falls_short_does_not_load(tmp_path, change, words):
    with pytest.raises(PromptSetError, match="set.json") as caught:
        load_prompt_set(_write(tmp_path, change(_full())))
    assert words in str(caught.value)


def test_a_full_set_loads_and_an_unreadable_one_says_why(tmp_path):
    assert len(load_prompt_set(_write(tmp_path, _full())).prompts) == 19
    with pytest.raises(PromptSetError, match="nope.json: cannot read"):
        load_prompt_set(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(PromptSetError, match="bad.json: not a prompt set"):
        load_prompt_set(tmp_path / "bad.json")
