"""Search the lake: four strategies over a derived index that is never stale (contract: notes/search_interface.md).

The lake stays the source of truth. The index (storage/search_index.py) is checked against the lake's
last change to nodes, embeddings or papers before every search, a sub-millisecond catalog read, and
rebuilt when they differ; snapshots that touch other tables (evaluation runs) leave it alone.
This module and what it imports load neither Prefect nor llama-index: a one-shot query stays quick.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from paperlake.embedders import Embedder, make_embedder
from paperlake.errors import PaperlakeError
from paperlake.settings import Settings
from paperlake.strategies import DEFAULT_FUSION, DEFAULT_STRATEGY, FUSIONS, STRATEGIES
from storage.catalog import catalog_last_change
from storage.search_index import INDEXED_TABLES, KINDS, SearchIndex, build_lock, index_root, open_current
from storage.search_rank import FUSION_DEPTH, Ranking, bm25_ranking, dense_ranking, fuse

if TYPE_CHECKING:
    from storage.lakehouse import Lakehouse

_QUERY_BATCH = 32  # queries scored per matmul: bounds the [rows x queries] score block at 1M rows to 128 MB


class SearchError(PaperlakeError):
    """Why a search cannot run, in one line: empty lake, unknown paper or strategy, empty query, model mismatch."""


@dataclass(frozen=True)
class SearchResult:
    query: str
    strategy: str
    rank: int
    node_id: str
    paper_id: str
    title: str | None
    score: float
    page_start: int | None
    page_end: int | None
    text: str
    matched_node_id: str
    matched_kind: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Searcher:
    """Search the lake under settings.data_dir with settings' embedding model.

    Opening it builds or refreshes the derived search index when the lake changed since it was built
    (never serves stale results); the query path imports neither Prefect nor llama-index."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, house: Lakehouse | None = None) -> None:
        self.settings = settings
        self._model = settings.embed_model
        # `house`: a handle the caller already holds (a run that just wrote the lake), so that a rebuild
        # does not pay for loading DuckDB's extensions again; the caller keeps it open. Otherwise one is
        # made when a rebuild needs it: a search of a current index never imports DuckDB.
        self._owns_house = house is None
        self._house = house
        self._root = index_root(settings.data_dir, self._model)
        self._embedder = embedder  # a seam for tests and callers that hold one already
        self._lock = threading.RLock()
        self._index: SearchIndex | None = None
        self._fresh_index()

    # ---- the index ----------------------------------------------------------------------------
    def _fresh_index(self) -> SearchIndex:
        """The index of the lake as it is now: the one in use, the one on disk, or a new build."""
        change = catalog_last_change(self.settings.data_dir, INDEXED_TABLES)
        with self._lock:
            if self._index is not None and self._index.meta.lake_change == change:
                return self._index
            found = open_current(self._root)
            if found is None or found.meta.lake_change != change:
                with build_lock(self._root):  # another process may have built it while we waited
                    found = open_current(self._root)
                    if found is None or found.meta.lake_change != catalog_last_change(self.settings.data_dir, INDEXED_TABLES):
                        found = self._build()
            self._index = found
            return found

    def _build(self) -> SearchIndex:
        from storage.lakehouse import Lakehouse  # only a build needs DuckDB
        from storage.search_build import build_index

        if self._house is None:
            self._house = Lakehouse(self.settings.data_dir, read_only=True)
        return build_index(self._house, self._model, self._root)

    @property
    def snapshot_id(self) -> int:
        return self._fresh_index().meta.snapshot_id

    @property
    def embed_model(self) -> str:
        return self._model

    def _embed(self, queries: list[str]) -> np.ndarray:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return np.asarray(self._embedder.embed_queries(queries), dtype=np.float32)

    # ---- searching ----------------------------------------------------------------------------
    def search(self, query: str, strategy: str = DEFAULT_STRATEGY, k: int = 5,
               paper_ids: Sequence[str] | None = None, fusion: str = DEFAULT_FUSION) -> list[SearchResult]:  # fmt: skip
        return self.search_many([query], strategy, k, paper_ids, fusion)[0]

    def search_many(self, queries: Sequence[str], strategy: str = DEFAULT_STRATEGY, k: int = 5,
                    paper_ids: Sequence[str] | None = None, fusion: str = DEFAULT_FUSION) -> list[list[SearchResult]]:  # fmt: skip
        """Every query's top `k` parents; all queries embedded in one batch (start-up paid once).
        `fusion` (FUSIONS): how `hybrid` fuses its rankings; the other strategies have none."""
        _check_request(queries, strategy, k, fusion)
        index = self._fresh_index()
        papers = self._paper_numbers(index, paper_ids)
        vectors = self._embed(list(queries))
        if vectors.shape[1] != index.meta.dim:
            raise SearchError(f"the query embedding has {vectors.shape[1]} dimensions, the lake's {self._model} vectors "
                              f"{index.meta.dim}: the lake was embedded by another model of the same name")  # fmt: skip
        rankings: list[Ranking] = []
        for start in range(0, len(queries), _QUERY_BATCH):
            batch = list(queries[start : start + _QUERY_BATCH])
            rankings += _rank(index, strategy, batch, vectors[start : start + _QUERY_BATCH], k, papers, fusion)
        return [_results(index, query, strategy, ranking) for query, ranking in zip(queries, rankings, strict=True)]

    def _paper_numbers(self, index: SearchIndex, paper_ids: Sequence[str] | None) -> np.ndarray | None:
        if index.meta.n_parents == 0:
            if index.meta.other_models:
                raise SearchError(f"the lake's vectors come from {', '.join(index.meta.other_models)}, not the configured "
                                  f"embedding model {self._model} (PAPERLAKE_EMBED_MODEL)")  # fmt: skip
            raise SearchError(f"the lake in {self.settings.data_dir} has no passages to search yet: run `paperlake ingest` first")
        if paper_ids is None:
            return None
        unknown = [pid for pid in paper_ids if pid not in index.paper_numbers]
        if unknown:
            also = f" (the lake also holds {', '.join(index.meta.other_models)} vectors)" if index.meta.other_models else ""
            raise SearchError(f"unknown paper id {', '.join(unknown)}: no {self._model} passages of it in the lake{also}")
        return np.asarray(sorted(index.paper_numbers[pid] for pid in paper_ids), dtype=np.int32)

    def close(self) -> None:
        if self._owns_house and self._house is not None:
            self._house.close()
            self._house = None
        self._index = None

    def as_retriever(self, strategy: str = DEFAULT_STRATEGY, k: int = 5, paper_ids: Sequence[str] | None = None,
                     fusion: str = DEFAULT_FUSION) -> Any:  # fmt: skip
        """A LlamaIndex `BaseRetriever` over this searcher (imports llama-index: not for quick paths)."""
        from paperlake.llamaindex import LakeRetriever

        return LakeRetriever(self, strategy=strategy, k=k, paper_ids=paper_ids, fusion=fusion)

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_request(queries: Sequence[str], strategy: str, k: int, fusion: str) -> None:
    if strategy not in STRATEGIES:
        raise SearchError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if fusion not in FUSIONS:
        raise SearchError(f"unknown fusion {fusion!r}: choose one of {', '.join(FUSIONS)}")
    if k < 1:
        raise SearchError(f"k must be at least 1, not {k}")
    if any(not query.strip() for query in queries):
        raise SearchError("empty query: give some text to search for")


def _rank(index: SearchIndex, strategy: str, queries: list[str], vectors: np.ndarray, k: int,
          papers: np.ndarray | None, fusion: str) -> list[Ranking]:  # fmt: skip
    if strategy != "hybrid":
        return dense_ranking(index, strategy, vectors, k, papers)
    depth = max(k, FUSION_DEPTH)
    dense = dense_ranking(index, "chunks", vectors, depth, papers)
    return [fuse([ranking, *bm25_ranking(index, query, depth, papers)], k, fusion) for query, ranking in zip(queries, dense, strict=True)]


def _results(index: SearchIndex, query: str, strategy: str, ranking: Ranking) -> list[SearchResult]:
    """Only now do rows become Python objects: k of them."""
    results = []
    for rank, (parent, score, matched) in enumerate(zip(ranking.parents.tolist(), ranking.scores.tolist(),
                                                        ranking.matched.tolist(), strict=True), start=1):  # fmt: skip
        paper = int(index.paper[parent])
        row = index.parents.slice(parent, 1).to_pylist()[0]
        results.append(SearchResult(
            query=query, strategy=strategy, rank=rank, node_id=index.node_ids[parent].as_py(),
            paper_id=index.papers.column("paper_id")[paper].as_py(), title=index.papers.column("title")[paper].as_py(),
            score=round(float(score), 6), page_start=row["page_start"], page_end=row["page_end"], text=row["text"],
            matched_node_id=index.node_ids[matched].as_py(), matched_kind=KINDS[int(index.kind[matched])],
        ))  # fmt: skip
    return results
