"""Ranking over one search index: dense scores per row group, collapse to parents, BM25, fusion.

Every function takes whole arrays (numpy over memory-mapped files) and returns a `Ranking` of parent
rows: no Python object per stored vector, only per candidate kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from storage.search_index import SearchIndex

FUSION_DEPTH = 100  # parents taken from each list into the fusion: far past any k a reader looks at
RRF_K = 60  # reciprocal rank fusion's constant, as its paper (Cormack et al., 2009) and LlamaIndex set it


@dataclass
class Ranking:
    """Parent rows best first, each with its score and the row that matched for it."""

    parents: np.ndarray  # int32 parent rows
    scores: np.ndarray  # float32, descending
    matched: np.ndarray  # int32 rows (a child, summary, question or the parent itself)


def row_groups(index: SearchIndex, strategy: str) -> list[tuple[int, int]]:
    """Contiguous row ranges each strategy searches: rows are [parents][children][summaries+questions]."""
    m = index.meta
    parents, children_end = (0, m.n_parents), m.n_parents + m.n_children
    return {
        "baseline": [parents],
        "chunks": [(0, children_end)],
        "metadata": [parents, (children_end, m.n_rows)],
        "hybrid": [(0, children_end)],
    }[strategy]


def paper_mask(index: SearchIndex, start: int, end: int, papers: np.ndarray) -> np.ndarray:
    return np.isin(index.paper[start:end], papers)


def dense_scores(index: SearchIndex, groups: list[tuple[int, int]], queries: np.ndarray) -> np.ndarray:
    """[n_queries, rows] cosine scores: one matmul per contiguous, memory-mapped group, each query's row contiguous."""
    if queries.shape[0] == 1:  # one query: BLAS's matrix-vector kernel, a little faster than a 1-row product
        blocks = [(np.asarray(index.vectors[a:b]) @ queries[0])[None, :] for a, b in groups]
    else:
        blocks = [queries @ np.asarray(index.vectors[a:b]).T for a, b in groups]
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)


def _empty() -> Ranking:
    return Ranking(np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.int32))


def collapse(index: SearchIndex, scores: np.ndarray, rows: np.ndarray | int, k: int) -> Ranking:
    """Best `k` parents of scored rows (`rows`: their row numbers, or the first row of a contiguous run):
    each hit resolves to its parent, which keeps its best (max) score; -inf marks rows left out.

    Exact without scoring every parent: hits are taken best first in growing batches until they name
    `k` distinct parents; a parent not reached yet scores below every hit taken, so below those `k`."""
    n = len(scores)
    if n == 0 or k < 1:
        return _empty()
    take = min(n, max(8 * k, 64))
    while True:
        top = np.argpartition(-scores, take - 1)[:take] if take < n else np.arange(n)
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[np.isfinite(scores[top])]
        hit_rows = rows[top] if isinstance(rows, np.ndarray) else top + rows
        parents = np.asarray(index.parent[hit_rows])
        _, first = np.unique(parents, return_index=True)  # first = best hit of each parent
        if len(first) >= k or take >= n or len(top) < take:  # enough parents, or no hit left
            best = np.sort(first)[:k]
            return Ranking(parents[best].astype(np.int32), scores[top][best].astype(np.float32), hit_rows[best].astype(np.int32))
        take = min(n, take * 4)


def dense_ranking(index: SearchIndex, strategy: str, queries: np.ndarray, k: int, papers: np.ndarray | None) -> list[Ranking]:
    """Per query: the top `k` parents by cosine over the strategy's rows (max over a parent's nodes)."""
    groups = row_groups(index, strategy)
    scores = dense_scores(index, groups, queries)
    rows: np.ndarray | int = groups[0][0] if len(groups) == 1 else np.concatenate([np.arange(a, b, dtype=np.int32) for a, b in groups])
    mask = None if papers is None else np.concatenate([paper_mask(index, a, b, papers) for a, b in groups])
    rankings = []
    for q in range(queries.shape[0]):
        column = scores[q]
        if mask is not None:
            column = np.where(mask, column, -np.inf)
        rankings.append(collapse(index, column, rows, k))
    return rankings


def bm25_ranking(index: SearchIndex, query: str, depth: int, papers: np.ndarray | None) -> list[Ranking]:
    """Two lexical rankings of parents: BM25 over parents' text and over children's, collapsed to parents.

    Question sets differ in which granularity they favour (a pointed question matches a small chunk, a
    broad one a whole passage), so both are fused rather than one chosen on one dev set."""
    ids = index.token_ids(query)
    m = index.meta
    out = []
    for which, start, count in (("parents", 0, m.n_parents), ("children", m.n_parents, m.n_children)):
        scores = index.bm25(which, ids) if count else np.zeros(0, np.float32)
        scores = np.where(scores > 0, scores, -np.inf).astype(np.float32)  # no shared word: no evidence
        if papers is not None:
            scores[~paper_mask(index, start, start + count, papers)] = -np.inf
        out.append(collapse(index, scores, start, depth))
    return out


def fuse(rankings: list[Ranking], k: int, method: str = "relative") -> Ranking:
    """Relative score fusion: each list's scores min-max scaled to [0, 1] over its entries (its best 1,
    its last 0, a parent it lacks 0), summed per parent. LlamaIndex's `relative_score` fusion mode.
    `method="rrf"`: reciprocal rank fusion instead, each list giving a parent 1 / (RRF_K + its rank).

    Chosen over reciprocal rank fusion by measurement (bench/search_levers.py): RRF (k=60) counts only
    ranks, so a parent both BM25 lists put first by a wide margin lost to one ranked second there and
    first by a weak dense list whose cosines barely separate (Solana dev set MRR@5 0.883 vs 0.940).
    Scaled scores keep each list's confidence: a list with a clear winner moves the ranking, a flat one
    hardly does, with no weight or constant to tune. Ties: the better best rank, then the row. A
    parent's matched row comes from the list that ranks it best (ties: the earlier list, dense first)."""
    total: dict[int, float] = {}
    best: dict[int, tuple[int, int]] = {}  # parent -> (rank, matched row)
    for ranking in rankings:
        gains = _reciprocal(len(ranking.scores)) if method == "rrf" else _scaled(ranking.scores)
        for rank, (parent, gain, row) in enumerate(zip(ranking.parents.tolist(), gains.tolist(),
                                                       ranking.matched.tolist(), strict=True), start=1):  # fmt: skip
            total[parent] = total.get(parent, 0.0) + gain
            if parent not in best or rank < best[parent][0]:
                best[parent] = (rank, row)
    order = sorted(total, key=lambda p: (-total[p], best[p][0], p))[:k]
    return Ranking(
        np.asarray(order, np.int32), np.asarray([total[p] for p in order], np.float32), np.asarray([best[p][1] for p in order], np.int32)
    )


def _reciprocal(n: int) -> np.ndarray:
    """Reciprocal rank fusion's gains of a list of `n`, best first."""
    return 1.0 / (RRF_K + np.arange(1, n + 1, dtype=np.float64))


def _scaled(scores: np.ndarray) -> np.ndarray:
    """Min-max scaling of one list's scores (descending); a list of one score, or of equal ones, is all 1."""
    if len(scores) == 0:
        return scores.astype(np.float64)
    top, bottom = float(scores[0]), float(scores[-1])
    if top <= bottom:
        return np.ones(len(scores))
    return (scores.astype(np.float64) - bottom) / (top - bottom)
