"""Adapters so LlamaIndex components can use paperlake's providers (imports llama-index: not for quick paths)."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from paperlake.embedders import Embedder


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
