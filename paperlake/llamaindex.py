"""Adapters between paperlake and LlamaIndex: providers as LlamaIndex components, the lake as a retriever.

Imports llama-index: not for quick paths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from pydantic import PrivateAttr

from paperlake.embedders import Embedder
from paperlake.strategies import DEFAULT_FUSION


class EmbedderAdapter(BaseEmbedding):
    """A paperlake `Embedder` as a LlamaIndex `BaseEmbedding` (e.g. for `VectorStoreIndex`).

    LlamaIndex's text side (nodes it indexes) goes to `embed`, its query side to `embed_queries`,
    so models that want a query or passage prefix get the right one on each side.
    """

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs: Any) -> None:
        super().__init__(model_name=embedder.model, **kwargs)
        self._embedder = embedder

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed(list(texts)).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.embed_queries([query]).tolist()[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        # The base class would embed each text on its own: one request per text on a remote model.
        return self._get_text_embeddings(texts)


class LakeRetriever(BaseRetriever):
    """The lake's search as a LlamaIndex retriever: parents as `NodeWithScore`, best first.

    Takes any object with `search(query, strategy, k, paper_ids, fusion)` returning results shaped like
    `storage.search.SearchResult` (duck typing: paperlake/ never imports storage/), so
    `RetrieverQueryEngine.from_args(retriever, llm=...)` works as in the recursive-retriever notebook.
    Build one with `Searcher(settings).as_retriever(strategy, k)`.
    """

    def __init__(self, searcher: Any, strategy: str, k: int = 5, paper_ids: Sequence[str] | None = None,
                 fusion: str = DEFAULT_FUSION, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self._fusion = fusion
        self._searcher = searcher
        self._strategy = strategy
        self._k = k
        self._paper_ids = list(paper_ids) if paper_ids is not None else None

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        results = self._searcher.search(query_bundle.query_str, self._strategy, self._k, self._paper_ids, self._fusion)
        return [NodeWithScore(node=_text_node(result), score=float(result.score)) for result in results]


def _text_node(result: Any) -> TextNode:
    metadata = {"paper_id": result.paper_id, "title": result.title, "page_start": result.page_start,
                "page_end": result.page_end, "strategy": result.strategy, "node_id": result.node_id,
                "matched_node_id": result.matched_node_id, "matched_kind": result.matched_kind}  # fmt: skip
    # The answer prompt shows title and pages with the passage; ids and bookkeeping stay out of it.
    hidden = ["node_id", "matched_node_id", "matched_kind", "strategy"]
    return TextNode(id_=result.node_id, text=result.text, metadata=metadata,
                    excluded_llm_metadata_keys=hidden, excluded_embed_metadata_keys=hidden)  # fmt: skip
