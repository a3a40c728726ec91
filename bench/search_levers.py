"""The cheap levers of issue 7, each measured as ONE change to the shipped hybrid ranking, in memory.

The lab reads one lake's parents, children and summary/question nodes (texts, vectors) and titles,
embeds the questions once, and builds every variant from score matrices [questions x passages]: right
for a dev lake of a few hundred passages, not a search path. Its "shipped" variant must rank exactly
as `Searcher`'s hybrid does (bench/search_quality.py checks it) before any lever is believed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache, partial
from pathlib import Path

import numpy as np

from paperlake.local_extractive import passage_headings
from paperlake.settings import Settings

_MINIMAL_STOPWORDS = frozenset("the a an of and or to in is for".split())


@dataclass(frozen=True)
class Variant:
    """One way to rank; the defaults are what storage/search*.py ships (hybrid)."""

    stem: bool = True
    stop: str = "nltk"  # nltk | minimal | none
    pairs: bool = True  # adjacent word pairs as extra tokens
    header: str = "title"  # none | title | title+heading: what goes before each indexed text
    bm25: tuple[str, ...] = ("parents", "children")
    child_collapse: str = "max"  # max | sum: how a parent's children's BM25 scores become its score
    dense: tuple[str, ...] = ("chunks",)  # baseline | chunks | metadata lists fused
    dense_collapse: str = "max"  # max | sum-topN (N child hits collected, their cosines summed per parent)
    fusion: str = "minmax"  # minmax (scores scaled to [0, 1] over each list's top `depth`, summed) | zscore | rrf
    rrf_k: int = 60  # rrf only
    weights: tuple[float, ...] = ()  # per list (dense lists, then BM25 lists); () = all 1
    depth: int = 100  # parents taken from each list into the fusion

    def but(self, **changes: object) -> Variant:
        return replace(self, **changes)


SHIPPED = Variant()


class Lab:
    def __init__(self, data_dir: Path, queries: list[str], settings: Settings) -> None:
        from paperlake.embedders import make_embedder
        from storage.lakehouse import Lakehouse

        house = Lakehouse(data_dir, read_only=True)
        rows = house.query(
            "SELECT n.node_id, n.paper_id, n.kind, n.parent_id, n.text, e.embedding, p.title FROM nodes n "
            "JOIN embeddings e ON e.node_id = n.node_id AND e.model = ? LEFT JOIN papers p ON p.paper_id = n.paper_id "
            "ORDER BY n.paper_id, n.kind, n.chunk_size, n.position", [settings.embed_model]
        ).to_pylist()  # fmt: skip
        house.close()
        parents = [r for r in rows if r["kind"] == "parent"]
        self.parent_ids = [r["node_id"] for r in parents]
        row_of = {pid: i for i, pid in enumerate(self.parent_ids)}
        self.children = [r for r in rows if r["kind"] == "child" and r["parent_id"] in row_of]
        derived = [r for r in rows if r["kind"] in ("summary", "question") and r["parent_id"] in row_of]
        self.parents = parents
        self.child_parent = np.asarray([row_of[r["parent_id"]] for r in self.children], np.int64)
        self.derived_parent = np.asarray([row_of[r["parent_id"]] for r in derived], np.int64)
        q = np.asarray(make_embedder(settings).embed_queries(queries), np.float32)
        self.queries = queries
        self.cos = {name: q @ np.asarray([r["embedding"] for r in group], np.float32).T
                    for name, group in (("parents", parents), ("children", self.children), ("derived", derived))}  # fmt: skip

    # ---- texts and tokens ---------------------------------------------------------------------
    @cached_property
    def _headings(self) -> dict[str, list[tuple[int, str]]]:
        """Per parent: (offset, heading) of the heading lines in its text, plus the one in force at its start."""
        out, last = {}, {}
        for p in self.parents:
            found = [(m.start(), m.group(0).strip()) for m in _heading_lines(p["text"])]
            carried = [(-1, last[p["paper_id"]])] if p["paper_id"] in last else []
            out[p["node_id"]] = carried + found
            if found:
                last[p["paper_id"]] = found[-1][1]
        return out

    def _heading_at(self, parent_id: str, offset: int) -> str:
        before = [h for at, h in self._headings[parent_id] if at <= offset]
        return before[-1] if before else ""

    def texts(self, which: str, header: str) -> list[str]:
        group = self.parents if which == "parents" else self.children
        if header == "none":
            return [r["text"] or "" for r in group]
        out = []
        for r in group:
            head = r["title"] or ""
            if header == "title+heading":
                parent = r["node_id"] if which == "parents" else r["parent_id"]
                offset = 0 if which == "parents" else max(0, self._parent_text(parent).find((r["text"] or "")[:80]))
                head = f"{head}\n{self._heading_at(parent, offset)}"
            out.append(f"{head}\n{r['text'] or ''}")
        return out

    def _parent_text(self, node_id: str) -> str:
        return self.parents[self.parent_ids.index(node_id)]["text"] or ""

    @lru_cache(maxsize=None)  # noqa: B019 - one lab per run
    def bm25(self, which: str, stem: bool, stop: str, pairs: bool, header: str) -> np.ndarray:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on import: a line per build
        tok = tokenizer(stem, stop, pairs)
        index = bm25s.BM25(csc_backend="numpy")
        index.index([tok(t) or [""] for t in self.texts(which, header)], show_progress=False)
        vocab, n_docs = index.vocab_dict, len(self.parents if which == "parents" else self.children)
        known = [[t for t in tok(q) if t in vocab] for q in self.queries]
        return np.stack([index.get_scores(ts) if ts else np.zeros(n_docs) for ts in known])

    # ---- ranking ------------------------------------------------------------------------------
    def _lists(self, v: Variant) -> list[np.ndarray]:
        """Score matrices [questions x parents], one per fused list; -inf = not in the list."""
        lists = [self._dense(name, v.dense_collapse) for name in v.dense]
        for which in v.bm25:
            s = self.bm25(which, v.stem, v.stop, v.pairs, v.header)
            if which == "children":
                s = collapse(np.where(s > 0, s, -np.inf), self.child_parent, len(self.parent_ids), v.child_collapse)
            lists.append(np.where(s > 0, s, -np.inf))
        return lists

    def _dense(self, name: str, how: str) -> np.ndarray:
        n = len(self.parent_ids)
        if name == "baseline":
            return self.cos["parents"]
        if name == "chunks":
            return np.maximum(self.cos["parents"], collapse(self.cos["children"], self.child_parent, n, how))
        return np.maximum(self.cos["parents"], collapse(self.cos["derived"], self.derived_parent, n, how))

    def rank(self, v: Variant, k: int = 10) -> list[list[str]]:
        lists = self._lists(v)
        weights = v.weights or (1.0,) * len(lists)
        out = []
        for q in range(len(self.queries)):
            total: dict[int, float] = {}
            best: dict[int, int] = {}
            for w, scores in zip(weights, lists, strict=True):
                order = np.argsort(-scores[q], kind="stable")[: v.depth]
                order = order[np.isfinite(scores[q][order])]
                for rank, (p, gain) in enumerate(zip(order.tolist(), _gains(scores[q][order], v), strict=True), start=1):
                    total[p] = total.get(p, 0.0) + w * gain
                    best[p] = min(best.get(p, rank), rank)
            top = sorted(total, key=lambda p: (-total[p], best[p], p))[:k]
            out.append([self.parent_ids[p] for p in top])
        return out


def _gains(scores: np.ndarray, v: Variant) -> list[float]:
    """What each of a list's entries (best first) adds to its parent's fused score."""
    if v.fusion == "rrf":
        return [1.0 / (v.rrf_k + rank) for rank in range(1, len(scores) + 1)]
    if len(scores) == 0:
        return []
    if v.fusion == "minmax":
        span = scores[0] - scores[-1]
        return ((scores - scores[-1]) / span if span > 0 else np.ones_like(scores)).tolist()
    sd = scores.std()
    return ((scores - scores.mean()) / sd if sd > 0 else np.zeros_like(scores)).tolist()


def _heading_lines(text: str) -> list[re.Match[str]]:
    wanted = set(passage_headings(text))
    return [m for m in re.finditer(r"^.*$", text, re.MULTILINE) if " ".join(m.group(0).split()) in wanted]


def collapse(scores: np.ndarray, owner: np.ndarray, n: int, how: str) -> np.ndarray:
    """[questions x children] -> [questions x parents]: max, or sum over the top N hits (`sum-topN`; `sum`: all)."""
    out = np.full((scores.shape[0], n), -np.inf)
    for q in range(scores.shape[0]):
        if how == "max":
            np.maximum.at(out[q], owner, scores[q])
            continue
        keep = np.isfinite(scores[q])
        if how.startswith("sum-top"):
            top = np.argsort(-scores[q], kind="stable")[: int(how.removeprefix("sum-top"))]
            keep = np.zeros_like(keep)
            keep[top] = np.isfinite(scores[q][top])
        summed = np.zeros(n)
        np.add.at(summed, owner[keep], scores[q][keep])
        hit = np.zeros(n, bool)
        hit[owner[keep]] = True
        out[q] = np.where(hit, summed, -np.inf)
    return out


def tokenizer(stem: bool, stop: str, pairs: bool) -> Callable[[str], list[str]]:
    """The search path's own tokenizer (storage/search_text.py) with one lever changed."""
    from storage.search_text import stopwords, tokenize

    words_out = {"nltk": stopwords(), "minimal": _MINIMAL_STOPWORDS, "none": frozenset()}[stop]
    return partial(tokenize, stem=stem, stop=words_out, pairs=pairs)


def levers(base: Variant = SHIPPED) -> dict[str, Variant]:
    """Every lever of issue 7, one change at a time against `base`."""
    s = base
    return {
        "shipped hybrid (lab)": s,
        "BM25 only (parents + children, no dense)": s.but(dense=()),
        "dense chunks only (no BM25)": s.but(bm25=()),
        "tokens: no stemming": s.but(stem=False),
        "tokens: minimal stopwords": s.but(stop="minimal"),
        "tokens: no stopwords": s.but(stop="none"),
        "tokens: no word pairs": s.but(pairs=False),
        "header: none (no title)": s.but(header="none"),
        "header: title + section heading": s.but(header="title+heading"),
        "BM25 over parents only": s.but(bm25=("parents",)),
        "BM25 over children only": s.but(bm25=("children",)),
        "BM25 children: summed per parent": s.but(child_collapse="sum"),
        "dense: baseline instead of chunks": s.but(dense=("baseline",)),
        "dense: baseline + chunks": s.but(dense=("baseline", "chunks")),
        "dense: baseline + chunks + metadata": s.but(dense=("baseline", "chunks", "metadata")),
        "dense chunks: top 10 child hits summed": s.but(dense_collapse="sum-top10"),
        "dense chunks: top 50 child hits summed": s.but(dense_collapse="sum-top50"),
        "fusion: 10 parents per list": s.but(depth=10),
        "fusion: 20 parents per list": s.but(depth=20),
        "fusion: z-scores summed": s.but(fusion="zscore"),
        "fusion: min-max scores summed": s.but(fusion="minmax"),
        "fusion: RRF k=60": s.but(fusion="rrf"),
        "fusion: RRF k=10": s.but(fusion="rrf", rrf_k=10),
        "fusion: RRF k=100": s.but(fusion="rrf", rrf_k=100),
        "weights dense 2, BM25 1 each": s.but(weights=(2.0, 1.0, 1.0)),
        "weights dense 1, BM25 0.5 each": s.but(weights=(1.0, 0.5, 0.5)),
    }
