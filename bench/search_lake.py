"""Synthetic lakes for bench/search.py: unit vectors and random-word texts, written by the lake's commit path."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from storage.lakehouse import Lakehouse, Replace
from storage.schema import EMBEDDINGS, NODES, PAPERS

DIM = 256
CHILDREN, DERIVED = 17, 6  # per parent, as a real paper has them (128/256/512 children; summary + 5 questions)
PARENTS_PER_PAPER = 1000
WORDS = 12  # per synthetic text: enough for BM25 to rank, short enough to tokenize a million quickly


def random_texts(rng: np.random.Generator, n: int) -> list[str]:
    words = rng.zipf(1.3, size=(n, WORDS)) % 50_000  # a Zipf vocabulary, as in prose
    return [" ".join(f"w{w}" for w in row) for row in words.tolist()]


class Fixed:
    """A query embedder handing out prepared unit vectors in turn (timing excludes the model)."""

    model = cache_scope = "wordllama"
    request_size = 4096

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors, self.turn = vectors, 0

    def next_text(self) -> str:
        self.turn += 1
        return f"w{self.turn % 50} w{(7 * self.turn) % 500}"

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.vectors[(self.turn + i) % len(self.vectors)] for i in range(len(texts))])

    embed = embed_queries


def _paper(paper_id: str, n_parents: int, rng: np.random.Generator) -> list[Replace]:
    per = 1 + CHILDREN + DERIVED
    n = n_parents * per
    parent_pos = np.repeat(np.arange(n_parents), per)
    slot = np.tile(np.arange(per), n_parents)  # 0 parent, 1..17 children, 18.. derived
    kinds = np.where(slot == 0, "parent", np.where(slot <= CHILDREN, "child", np.where(slot == CHILDREN + 1, "summary", "question")))
    ids = [f"{paper_id}:{k}:{s}:{p}" for k, s, p in zip(kinds.tolist(), slot.tolist(), parent_pos.tolist(), strict=True)]
    parent_ids = [f"{paper_id}:parent:0:{p}" for p in parent_pos.tolist()]
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = random_texts(rng, n)
    pages = pa.array(parent_pos // 2 + 1, pa.int32())
    nodes = pa.table({"node_id": ids, "paper_id": [paper_id] * n, "kind": kinds.tolist(),
                      "parent_id": [None if k == "parent" else q for k, q in zip(kinds.tolist(), parent_ids, strict=True)],
                      "chunk_size": pa.array(np.where(slot == 0, 1024, 128), pa.int32()), "position": pa.array(slot, pa.int32()),
                      "text": texts, "text_sha256": [""] * n, "page_start": pages, "page_end": pages}, schema=NODES.schema)  # fmt: skip
    flat = pa.array(vectors.reshape(-1), pa.float32())
    embeddings = pa.table({"node_id": ids, "model": ["wordllama"] * n, "dim": pa.array(np.full(n, DIM), pa.int32()),
                           "embedding": pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * DIM), flat),
                           "paper_id": [paper_id] * n}, schema=EMBEDDINGS.schema)  # fmt: skip
    row = {name: None for name in PAPERS.schema.names} | {"paper_id": paper_id, "title": f"Synthetic {paper_id}", "status": "ok",
           "authors": [], "categories": [], "ingested_at": datetime.now(timezone.utc)}  # fmt: skip
    scope = {"paper_id": paper_id}
    return [Replace(NODES, scope, nodes), Replace(EMBEDDINGS, scope, embeddings), Replace(PAPERS, scope, PAPERS.rows([row]))]


def synthetic_lake(data_dir: Path, n_vectors: int) -> float:
    """A lake of about `n_vectors` vectors under `data_dir` (made once; later runs reuse it). Seconds spent writing."""
    done = data_dir / ".complete"
    if done.exists():
        return 0.0
    started, rng = time.perf_counter(), np.random.default_rng(n_vectors)
    house = Lakehouse(data_dir)
    n_parents = max(1, n_vectors // (1 + CHILDREN + DERIVED))
    for number, first in enumerate(range(0, n_parents, PARENTS_PER_PAPER)):
        house.commit(_paper(f"2401.{number:05d}", min(PARENTS_PER_PAPER, n_parents - first), rng))
    house.close()
    done.touch()
    return time.perf_counter() - started


def rebuild_after_changes(searcher: object, data_dir: Path) -> dict[str, float]:
    """Seconds to bring the index up to date after one new paper is committed, then after it is deleted
    again (the lake's content is as before, in two more snapshots), and how many passages' tokens and
    vectors the first rebuild took from the build before it."""
    house = Lakehouse(data_dir)
    scope = {"paper_id": "2499.99999"}
    try:
        house.commit(_paper(scope["paper_id"], PARENTS_PER_PAPER, np.random.default_rng(99)))
        started = time.perf_counter()
        index = searcher._fresh_index()  # noqa: SLF001 - the rebuild is what is timed
        out = {"added_s": time.perf_counter() - started, "reused": float(index.meta.reused_passages),
               "reused_vectors": float(index.meta.reused_vectors)}  # fmt: skip
        house.commit([Replace(spec, scope, spec.schema.empty_table()) for spec in (NODES, EMBEDDINGS, PAPERS)])
        started = time.perf_counter()
        searcher._fresh_index()  # noqa: SLF001
        out["removed_s"] = time.perf_counter() - started
    finally:
        house.close()
    return out
