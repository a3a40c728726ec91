"""How an extraction is kept in the content cache, and how the lake's stored rows become cache entries.

An entry is the model's output as JSON with the latency and time it was produced, so a cache hit (local
or from the lake) reports what the original call cost and when it happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from paperlake.llm import ExtractionOutput

SharedExtractions = Callable[[list[str]], dict[str, bytes]]  # parent text sha256 digests -> cache entries


@dataclass
class Outcome:
    output: ExtractionOutput | None
    error: str
    latency_s: float
    created_at: datetime
    cached: bool = False


def encode(output: ExtractionOutput, latency_s: float, created_at: datetime) -> bytes:
    payload = {**output.__dict__, "latency_s": latency_s, "created_at": created_at.isoformat()}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def decode(value: bytes) -> Outcome | None:
    """A cached outcome, or None for an entry we cannot read (then it is simply extracted again)."""
    try:
        data = json.loads(value)
        output = ExtractionOutput(data["summary"], list(data["questions"]), data["input_tokens"], data["output_tokens"])
        if not output.summary or not output.questions:
            return None
        return Outcome(output, "", float(data["latency_s"]), datetime.fromisoformat(data["created_at"]), cached=True)
    except (ValueError, KeyError, TypeError):
        return None


def encode_stored(kinds: dict[str, dict]) -> bytes:
    """The lake's two rows of a parent (summary, questions) as a cache entry, keeping their tokens and time."""
    summary, questions = kinds["summary"], kinds["questions"]
    output = ExtractionOutput(summary["text"], questions["text"].split("\n"), summary["input_tokens"] or 0,
                              summary["output_tokens"] or 0)  # fmt: skip
    return encode(output, summary["latency_s"] or 0.0, summary["created_at"])
