"""Retrieval metrics at a cut-off k, from one judged ranking per question. Pure: no lake, no Prefect.

A strategy returns parent passages, best first; rank i is 1-based. Relevance is binary (see
`paperlake.relevance`: a parent containing at least half of the distinct word tokens of one reference
context; for generated questions, the question's source parent). Each metric is the mean over the questions:

- hit rate@k: 1 when a relevant parent is among the top k, else 0.
- MRR@k: 1 / rank of the first relevant parent when it is within the top k, else 0.
- nDCG@k: DCG@k / IDCG@k with DCG@k = sum over ranks i <= k of rel_i / log2(i + 1), and
  IDCG@k = sum over i = 1 .. min(k, R) of 1 / log2(i + 1), where R is the number of parents in the
  WHOLE LAKE (at the snapshot evaluated) relevant to the question, not only those retrieved. So a
  ranking scores 1 only when its top min(k, R) are all relevant; finding one of two relevant parents
  at rank 1 scores 1 / (1 + 1/log2 3) = 0.613 at k >= 2. A question no parent of the lake is
  relevant to (R = 0) scores 0, as it does for hit rate and MRR: it stays in the denominator, so a
  dataset that does not match the lake shows as low numbers instead of silently shrinking.
- context recall@k: the share of the distinct word tokens of the question's reference contexts (all
  of them together; for generated questions, the source parent's text) found in the union of the
  top k parents' word tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from paperlake.relevance import Passages, Reference, context_recall

METRICS = ("hit_rate", "mrr", "ndcg", "context_recall")


@dataclass(frozen=True)
class Judged:
    """One question's ranking, judged: relevance per rank, R, and context recall at each cut 1..len."""

    relevant: tuple[bool, ...]
    n_relevant: int  # R: relevant parents in the whole lake
    recall: tuple[float, ...]  # recall[i]: context recall of the top i + 1

    @property
    def first_relevant_rank(self) -> int | None:
        return next((i + 1 for i, rel in enumerate(self.relevant) if rel), None)

    def hit(self, k: int) -> float:
        rank = self.first_relevant_rank
        return 1.0 if rank is not None and rank <= k else 0.0

    def reciprocal_rank(self, k: int) -> float:
        rank = self.first_relevant_rank
        return 1.0 / rank if rank is not None and rank <= k else 0.0

    def ndcg(self, k: int) -> float:
        ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(k, self.n_relevant) + 1))
        if not ideal:
            return 0.0
        gained = sum(1.0 / math.log2(i + 1) for i, rel in enumerate(self.relevant[:k], start=1) if rel)
        return gained / ideal

    def context_recall(self, k: int) -> float:
        if not self.recall:
            return 0.0
        return self.recall[min(k, len(self.recall)) - 1]  # fewer than k retrieved: all of them


def judge(ranked: Sequence[str], relevant: frozenset[str], references: Sequence[Reference], passages: Passages) -> Judged:
    """Judge one ranking (parent node ids, best first) against the relevant set and the reference contexts."""
    recall = tuple(context_recall(references, passages, ranked[:i]) for i in range(1, len(ranked) + 1))
    return Judged(tuple(node_id in relevant for node_id in ranked), len(relevant), recall)


@dataclass(frozen=True)
class MetricRow:
    k: int
    hit_rate: float
    mrr: float
    ndcg: float
    context_recall: float
    n_questions: int

    def values(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in METRICS}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def aggregate(judged: Sequence[Judged], ks: Sequence[int]) -> list[MetricRow]:
    """One row per k (ascending): each metric's mean over the questions."""
    return [
        MetricRow(
            k=k,
            hit_rate=_mean([j.hit(k) for j in judged]),
            mrr=_mean([j.reciprocal_rank(k) for j in judged]),
            ndcg=_mean([j.ndcg(k) for j in judged]),
            context_recall=_mean([j.context_recall(k) for j in judged]),
            n_questions=len(judged),
        )
        for k in sorted(set(ks))
    ]
