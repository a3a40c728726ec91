"""Embedding models behind one small protocol: a local one shipped in a wheel, and OpenAI.

Both return L2-normalised float32 rows, so a dot product is a cosine similarity and
DuckDB's `list_cosine_similarity` agrees with numpy. Heavy imports happen on first use.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from paperlake.settings import Settings

if TYPE_CHECKING:
    from wordllama.inference import WordLlamaInference


class Embedder(Protocol):
    model: str
    cache_scope: str  # what makes its vectors what they are: the model, and the server serving it
    request_size: int  # texts per `embed` call: one HTTP request for a remote model

    def embed(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised float32 row per stored text (a passage, a node): the document side."""
        ...

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised float32 row per search query: the query side (models like e5 differ)."""
        ...


def _normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


@lru_cache(maxsize=1)
def load_wordllama() -> WordLlamaInference:
    """WordLlama from the files inside its wheel; never from the network.

    Its default loader looks for the tokenizer under ~/.cache and downloads it when missing.
    The wheel already carries weights and tokenizer, so point the cache at the package itself.
    """
    import wordllama
    from wordllama import WordLlama

    package_dir = Path(wordllama.__file__).resolve().parent
    return WordLlama.load(cache_dir=package_dir, disable_download=True)


class WordLlamaEmbedder:
    """256-d static word embeddings, mean-pooled: fast on a CPU, no weights to download."""

    model = cache_scope = "wordllama"
    request_size = 4096  # a local call: bounded only to bound memory

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._model = load_wordllama()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 256), dtype=np.float32)
        # WordLlama pads each batch to its longest text. Parents (1024 tokens) batched with
        # 128-token children made it 6x slower here; batches of similar lengths avoid that.
        order = np.argsort([len(text) for text in texts], kind="stable")
        vectors = self._model.embed([texts[i] for i in order], norm=False, batch_size=self.batch_size)
        restored = np.empty_like(vectors)
        restored[order] = vectors
        return _normalise(restored)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)  # static word vectors: a query is embedded like any text


class OpenAIEmbedder:
    """OpenAI (or any OpenAI-compatible server) through llama-index-embeddings-openai.

    The SDK's and llama-index's own retries are switched off (`max_retries=0`): paperlake's
    retry layer is the only one, so attempts do not multiply.
    """

    def __init__(self, settings: Settings) -> None:
        from llama_index.embeddings.openai import OpenAIEmbedding

        from paperlake.redact import install_log_redaction
        from paperlake.retrying import retrying

        install_log_redaction(settings.secret_values())
        self.model = settings.embed_model
        base_url = settings.openai_base_url
        self.cache_scope = f"{self.model}@{base_url}" if base_url else self.model
        self.request_size = settings.embed_batch_size
        self._client = OpenAIEmbedding(
            model=settings.embed_model,
            api_key=settings.require_openai_key(f"PAPERLAKE_EMBED_MODEL={settings.embed_model}"),
            api_base=settings.openai_base_url,
            embed_batch_size=settings.embed_batch_size,
            max_retries=0,
            timeout=settings.llm_timeout,
        )
        self._retrying = retrying(
            max_attempts=settings.llm_max_attempts, retry_after_cap=settings.retry_after_cap
        )
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self._retrying(self._client.get_text_embedding_batch, texts)
        return _normalise(np.asarray(vectors, dtype=np.float32))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = [self._retrying(self._client.get_query_embedding, text) for text in texts]
        return _normalise(np.asarray(vectors, dtype=np.float32))


def make_embedder(settings: Settings) -> Embedder:
    if settings.embed_is_local:
        return WordLlamaEmbedder()
    return OpenAIEmbedder(settings)
