"""Evaluation datasets: LlamaIndex `LabelledRagDataset` files, and question sets generated from the lake.

A `LabelledRagDataset` JSON file holds `examples[]`, each with a `query` and its `reference_contexts`
(also `reference_answer`, unused here). It is read with `json` alone (no llama-index import), whatever
its line endings. A generated set holds one question per sampled parent, whose source parent is the
one relevant passage. Both become an `EvalDataset` with a sha256 that identifies its content, so
trends only ever compare runs over the very same questions.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from paperlake.errors import PaperlakeError
from paperlake.files import file_sha256


class DatasetError(PaperlakeError):
    """An evaluation dataset that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class EvalQuestion:
    question_id: str
    question: str
    reference_contexts: tuple[str, ...]  # generated sets: the source parent's text
    source_node_id: str | None = None  # generated sets: the one relevant parent


@dataclass(frozen=True)
class EvalDataset:
    name: str  # the file's absolute path, or `generated-n<N>-seed<S>-<generator>`
    sha256: str
    questions: tuple[EvalQuestion, ...]
    generator: str | None = None  # who wrote the questions, when the dataset says


def _example(i: int, example: object, path: Path) -> EvalQuestion:
    if not isinstance(example, dict):
        raise DatasetError(f"{path}: examples[{i}] is not an object")
    query, contexts = example.get("query"), example.get("reference_contexts")
    if not isinstance(query, str) or not query.strip():
        raise DatasetError(f"{path}: examples[{i}] has no query")
    if not isinstance(contexts, list) or not contexts or not all(isinstance(c, str) and c.strip() for c in contexts):
        raise DatasetError(f"{path}: examples[{i}] has no reference_contexts (a list of texts)")
    # Position in the file: stable for one file content, which dataset_sha256 pins.
    return EvalQuestion(f"q{i:04d}", " ".join(query.split()), tuple(contexts))


def _query_authors(examples: list) -> str | None:
    names = sorted({str((e.get("query_by") or {}).get("model_name") or "") for e in examples if isinstance(e, dict)} - {""})
    return ",".join(names) or None


def load_rag_dataset(path: Path) -> EvalDataset:
    """A `LabelledRagDataset` JSON file; `DatasetError` (one line) for a missing or malformed one."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"{path}: not a JSON dataset ({str(exc).splitlines()[0]})") from None
    examples = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(examples, list) or not examples:
        raise DatasetError(f"{path}: not a LabelledRagDataset (no examples[] with query and reference_contexts)")
    questions = tuple(_example(i, example, path) for i, example in enumerate(examples))
    return EvalDataset(str(path), file_sha256(path), questions, _query_authors(examples))


# ---- generated from the lake ------------------------------------------------------------------
def generated_name(n: int, seed: int, generator: str) -> str:
    return f"generated-n{n}-seed{seed}-{generator}"


def sample_parents(node_ids: Sequence[str], n: int, seed: int) -> list[str]:
    """`n` parent ids (all when fewer), the same for the same lake and seed: sorted, then seeded."""
    ordered = sorted(node_ids)
    return sorted(random.Random(seed).sample(ordered, min(n, len(ordered))))


def questions_sha256(questions: Sequence[EvalQuestion]) -> str:
    """Identifies a generated set by what it asks and where the answers are."""
    canonical = [[q.question_id, q.question, q.source_node_id, list(q.reference_contexts)] for q in questions]
    return hashlib.sha256(json.dumps(sorted(canonical), ensure_ascii=False).encode("utf-8")).hexdigest()


def generated_dataset(name: str, questions: Sequence[EvalQuestion], generator: str) -> EvalDataset:
    ordered = tuple(sorted(questions, key=lambda q: q.question_id))
    return EvalDataset(name, questions_sha256(ordered), ordered, generator)
