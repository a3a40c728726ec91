"""Embedding models behind one small protocol: a local one shipped in a wheel, and any model on an
OpenAI-compatible server (OpenAI, vLLM, Ollama, a local e5 server).

Both return L2-normalised float32 rows, so a dot product is a cosine similarity and
DuckDB's `list_cosine_similarity` agrees with numpy. Heavy imports happen on first use.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from paperlake.settings import Settings

if TYPE_CHECKING:
    from wordllama.inference import WordLlamaInference


class Embedder(Protocol):
    model: str
    # What makes its `embed` vectors what they are: the model, the server serving it, the document prefix.
    cache_scope: str
    request_size: int  # texts per `embed` call: one HTTP request for a remote model

    def embed(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised float32 row per stored text (a passage, a node): the document side."""
        ...

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised float32 row per search query: the query side (models like e5 differ)."""
        ...


# Prefixes (query, document) that model families were trained with, from their model cards; first
# match on the lower-cased name wins. Instruction-tuned variants want task instructions instead: no default.
_FAMILY_PREFIXES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern), query, document)
    for pattern, query, document in (
        (r"e5-mistral|e5-.*instruct", "", ""),
        (r"(?:^|[/:_-])e5-", "query: ", "passage: "),
        (r"nomic-embed-text", "search_query: ", "search_document: "),
        (r"bge-(?:small|base|large)-en", "Represent this sentence for searching relevant passages: ", ""),
        (r"bge-(?:small|base|large)-zh", "为这个句子生成表示以用于检索相关文章：", ""),
    )
)


def default_prefixes(model: str) -> tuple[str, str]:
    """The (query, document) prefixes a model's family was trained with; ("", "") when unknown."""
    name = model.lower()
    for pattern, query, document in _FAMILY_PREFIXES:
        if pattern.search(name):
            return query, document
    return "", ""


def embed_prefixes(settings: Settings) -> tuple[str, str]:
    """(query, document) prefixes: explicit settings win (even ""), else the model family's defaults."""
    query, document = default_prefixes(settings.embed_model)
    explicit_query, explicit_document = settings.embed_query_prefix, settings.embed_document_prefix
    return (query if explicit_query is None else explicit_query, document if explicit_document is None else explicit_document)


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
        means = np.empty((len(texts), self._model.embedding.shape[1]), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = order[start : start + self.batch_size]
            means[batch] = self._mean_word_vectors([texts[i] for i in batch])
        return _normalise(means)

    def _mean_word_vectors(self, texts: list[str]) -> np.ndarray:
        """WordLlama's `embed` of a batch (mean of its word vectors over the unpadded tokens), less a copy:
        its pooling multiplies the (texts, tokens, 256) vectors by the mask before summing, where one
        matrix product sums them (the corpus's 1,183 nodes: 394 -> 287 ms; equal to 1e-6, tested)."""
        encoded = self._model.tokenize(texts)  # padded to the batch's longest
        ids = np.array([e.ids for e in encoded], dtype=np.int32)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.float32)
        np.clip(ids, 0, self._model.embedding.shape[0] - 1, out=ids)  # as WordLlama does
        sums = np.matmul(mask[:, None, :], self._model.embedding[ids])[:, 0, :]
        return sums / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        # Static word vectors, no prefixes: a prefix's words would only shift every mean alike.
        return self.embed(texts)


class OpenAIEmbedder:
    """Any embedding model on an OpenAI-compatible server, through llama-index-embeddings-openai.

    Queries and documents get their prefixes here and go through the same batch call, so a batch
    of queries is one request. The SDK's and llama-index's own retries are switched off
    (`max_retries=0`): paperlake's retry layer is the only one, so attempts do not multiply.
    """

    def __init__(self, settings: Settings) -> None:
        from llama_index.embeddings.openai import OpenAIEmbedding

        from paperlake.redact import install_log_redaction
        from paperlake.refusals import RefusalBreaker
        from paperlake.retrying import retrying

        install_log_redaction(settings.secret_values())
        self.model = settings.embed_model
        self.query_prefix, self.document_prefix = embed_prefixes(settings)
        base_url = settings.openai_base_url
        # Another server may serve another model under the same name, and a prefix changes every vector.
        scope = f"{self.model}@{base_url}" if base_url else self.model
        self.cache_scope = f"{scope}|document_prefix={self.document_prefix!r}" if self.document_prefix else scope
        self.request_size = settings.embed_batch_size
        self._client = OpenAIEmbedding(
            # `model=` accepts only OpenAI's own names; `model_name=` sends any name as it is.
            model_name=settings.embed_model,
            api_key=settings.require_openai_key(f"PAPERLAKE_EMBED_MODEL={settings.embed_model}"),
            api_base=settings.openai_base_url,
            embed_batch_size=settings.embed_batch_size,
            max_retries=0,
            timeout=settings.llm_timeout,
        )
        self._retrying = retrying(
            max_attempts=settings.llm_max_attempts, retry_after_cap=settings.retry_after_cap
        )
        # Shared by every paper this embedder serves: a refused key costs a few requests, not one per paper.
        self.refusals = RefusalBreaker("the embedding API")

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._embed([self.document_prefix + text for text in texts])

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed([self.query_prefix + text for text in texts])

    def _embed(self, texts: list[str]) -> np.ndarray:
        """One request per `request_size` texts, each retried on its own (a later failure redoes no earlier one)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.request_size):
            self.refusals.check()
            try:
                vectors += self._retrying(self._client.get_text_embedding_batch, texts[start : start + self.request_size])
            except Exception as exc:
                self.refusals.record(exc)
                raise
        return _normalise(np.asarray(vectors, dtype=np.float32))


def make_embedder(settings: Settings) -> Embedder:
    """The configured embedder; `ConfigError` naming the setting when it cannot be served."""
    if settings.embed_is_local:
        settings.check_providers(llm=False)  # a local provider asked for a model it does not have
        return WordLlamaEmbedder()
    return OpenAIEmbedder(settings)
