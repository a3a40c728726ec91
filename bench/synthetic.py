"""Synthetic papers shaped like real ones, for the lake benchmark (bench/lake.py).

A real paper cut at the defaults (parents of 1024 tokens, children of 128, 256 and 512) has per
parent about 9 + 5 + 3 children, one summary and a few questions: ~22 nodes a parent, so the
typical ~440 nodes are ~20 parents. Texts are random words (they compress like prose, not like
repeated bytes); vectors are random unit 256-d float32, as wordllama's. Everything is seeded:
paper `i` is the same in every layout and every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from paperlake.models import Node, make_node_id, sha256_text, summary_and_question_nodes
from tests.helpers import node, paper_row

DIM = 256
MODEL = "wordllama"
_CHILDREN = ((128, 9, 500), (256, 5, 1000), (512, 3, 2000))  # (chunk size, children a parent, characters)
_PARENT_CHARS, _SUMMARY_CHARS, _QUESTIONS = 4000, 400, 3
_WORDS = ("model training data layer attention token loss gradient reward policy safety evaluation benchmark "
          "retrieval passage query embedding vector parameter scale fine-tuning human preference annotation "
          "context window inference latency memory accuracy baseline ablation dataset corpus section figure").split()  # fmt: skip


def nodes_per_paper(parents: int) -> int:
    return parents * (1 + sum(count for _, count, _ in _CHILDREN) + 1 + _QUESTIONS)


@dataclass
class Paper:
    row: dict
    nodes: list[Node]
    vectors: np.ndarray
    extractions: list[dict]


class PaperMaker:
    """Makes paper number `i` with `parents` parents (and their children, summary, questions)."""

    def __init__(self, parents: int, seed: int = 7) -> None:
        self.parents = parents
        rng = np.random.default_rng(seed)
        self._prose = " ".join(rng.choice(_WORDS, 400_000))  # sliced at random offsets: cheap varied text
        self._seed = seed

    def paper_id(self, i: int) -> str:
        return f"{2301 + i // 100_000}.{i % 100_000:05d}"

    def _text(self, rng: np.random.Generator, chars: int, tag: str) -> str:
        start = int(rng.integers(0, len(self._prose) - chars))
        return f"{tag} {self._prose[start : start + chars]}"

    def make(self, i: int) -> Paper:
        rng = np.random.default_rng((self._seed, i))
        pid = self.paper_id(i)
        nodes: list[Node] = []
        extractions: list[dict] = []
        for p in range(self.parents):
            parent = node(pid, "parent", p, self._text(rng, _PARENT_CHARS, f"{pid} parent {p}"))
            nodes.append(parent)
            for size, count, chars in _CHILDREN:
                for c in range(count):
                    text = self._text(rng, chars, f"{pid} child {p}.{size}.{c}")
                    nodes.append(_child(parent, size, p * 100 + c, text))
            summary = self._text(rng, _SUMMARY_CHARS, f"{pid} summary {p}")
            questions = [self._text(rng, 80, f"{pid} question {p}.{q}") + "?" for q in range(_QUESTIONS)]
            nodes += summary_and_question_nodes(parent, summary, questions)
            extractions += [_extraction(pid, parent.node_id, "summary", summary),
                            _extraction(pid, parent.node_id, "questions", "\n".join(questions))]  # fmt: skip
        vectors = rng.standard_normal((len(nodes), DIM), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        row = {**paper_row(pid), "n_pages": 2 * self.parents, "n_chars": sum(len(n.text) for n in nodes if n.kind == "parent")}
        return Paper(row, nodes, vectors, extractions)


def _child(parent: Node, size: int, position: int, text: str) -> Node:
    digest = sha256_text(text)
    node_id = make_node_id(parent.paper_id, "child", size, position, digest)
    return Node(node_id, parent.paper_id, "child", parent.node_id, size, position, text, digest, 1, 1)


def _extraction(paper_id: str, parent_id: str, kind: str, text: str) -> dict:
    created = paper_row(paper_id)["ingested_at"]
    return {"parent_id": parent_id, "kind": kind, "model": "local-extractive", "prompt_version": "v1", "text": text,
            "input_tokens": 1024, "output_tokens": 120, "latency_s": 0.01, "status": "ok", "error": None,
            "created_at": created, "paper_id": paper_id}  # fmt: skip
