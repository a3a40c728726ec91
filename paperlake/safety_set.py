"""The red-team prompt set of the safety evaluation: kept in the repository, checked on every load.

The set ships inside the package (paperlake/data/safety_prompts.json, declared as package data) so that
an installed paperlake, a worker running a deployment and the tests all read the same prompts, with no
download and no path relative to the working directory. JSON, because it needs no parser beyond the
standard library and keeps ids, labels and texts reviewable in one diff.

Every load checks what the evaluation's metrics rely on: each risk category x attack vector cell of the
Llama 2 red-teaming taxonomy has at least one adversarial prompt, every benign prompt names the category
it only sounds like, and ids and texts are unique (a prompt's answer is found by its text).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from paperlake.errors import PaperlakeError

# The Llama 2 safety work's taxonomy (shared/origins/llama2_safety_talk.txt), in its order.
RISK_CATEGORIES = ("illicit_criminal", "hateful_harmful", "unqualified_advice")
ATTACK_VECTORS = ("psychological", "logic", "syntactic", "semantic", "perspective", "non_english")
DEFAULT_SET = "safety_prompts.json"


class PromptSetError(PaperlakeError):
    """The prompt set does not load or does not cover what the metrics need; the message says what."""


@dataclass(frozen=True)
class SafetyPrompt:
    prompt_id: str
    prompt: str
    category: str  # the risk category it attacks; for a benign prompt, the one it only sounds like
    vector: str | None  # the attack vector; None for benign prompts
    benign: bool


@dataclass(frozen=True)
class PromptSet:
    name: str
    prompts: tuple[SafetyPrompt, ...]
    sha256: str  # of the prompts' ids, labels and texts: runs are comparable when it is equal

    @property
    def adversarial(self) -> list[SafetyPrompt]:
        return [p for p in self.prompts if not p.benign]

    @property
    def benign(self) -> list[SafetyPrompt]:
        return [p for p in self.prompts if p.benign]


def _prompt(raw: dict, name: str) -> SafetyPrompt:
    try:
        prompt = SafetyPrompt(str(raw["id"]), str(raw["prompt"]).strip(), str(raw["category"]), raw.get("vector"),
                              bool(raw.get("benign", False)))  # fmt: skip
    except (KeyError, TypeError) as exc:
        raise PromptSetError(f"{name}: a prompt lacks {exc} (each needs id, prompt, category; vector unless benign)") from None
    if not prompt.prompt:
        raise PromptSetError(f"{name}: prompt {prompt.prompt_id} is empty")
    if prompt.category not in RISK_CATEGORIES:
        raise PromptSetError(f"{name}: prompt {prompt.prompt_id} has unknown category {prompt.category!r} "
                             f"(one of {', '.join(RISK_CATEGORIES)})")  # fmt: skip
    if prompt.benign != (prompt.vector is None):
        raise PromptSetError(f"{name}: prompt {prompt.prompt_id}: adversarial prompts name a vector, benign ones none")
    if prompt.vector is not None and prompt.vector not in ATTACK_VECTORS:
        raise PromptSetError(f"{name}: prompt {prompt.prompt_id} has unknown vector {prompt.vector!r} "
                             f"(one of {', '.join(ATTACK_VECTORS)})")  # fmt: skip
    return prompt


def check_coverage(prompts: tuple[SafetyPrompt, ...], name: str) -> None:
    """Every category x vector has an adversarial prompt, there are benign prompts, ids and texts are unique."""
    for attribute in ("prompt_id", "prompt"):
        values = [getattr(p, attribute) for p in prompts]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise PromptSetError(f"{name}: repeated {attribute}: {repeated[0][:80]!r}")
    cells = {(p.category, p.vector) for p in prompts if not p.benign}
    missing = [f"{c} x {v}" for c in RISK_CATEGORIES for v in ATTACK_VECTORS if (c, v) not in cells]
    if missing:
        raise PromptSetError(f"{name}: no adversarial prompt for {', '.join(missing)}")
    if not any(p.benign for p in prompts):
        raise PromptSetError(f"{name}: no benign prompts, so false refusals cannot be counted")


def _digest(prompts: tuple[SafetyPrompt, ...]) -> str:
    canonical = [[p.prompt_id, p.category, p.vector, p.benign, p.prompt] for p in prompts]
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode("utf-8")).hexdigest()


def parse_prompt_set(text: str, name: str) -> PromptSet:
    try:
        raw = json.loads(text)
        entries = raw["prompts"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PromptSetError(f"{name}: not a prompt set ({type(exc).__name__}: {exc})") from None
    prompts = tuple(_prompt(entry, name) for entry in entries)
    check_coverage(prompts, name)
    return PromptSet(name, prompts, _digest(prompts))


def load_prompt_set(path: Path | None = None) -> PromptSet:
    """The set shipped with paperlake, or the one at `path`; `PromptSetError` when it falls short."""
    if path is None:
        return parse_prompt_set(files("paperlake").joinpath("data", DEFAULT_SET).read_text(encoding="utf-8"), DEFAULT_SET)
    try:
        return parse_prompt_set(Path(path).read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise PromptSetError(f"{path}: cannot read the prompt set ({exc.strerror or exc})") from None
