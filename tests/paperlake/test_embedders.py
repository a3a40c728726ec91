from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from paperlake.embedders import OpenAIEmbedder, WordLlamaEmbedder, default_prefixes, make_embedder
from paperlake.errors import ConfigError
from paperlake.settings import Settings

# Any attempt to resolve a host or open a connection kills the process: the network is cut.
NETWORK_CUT = """
import sys
def deny(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"):
        raise SystemExit(f"network access attempted: {event} {args!r}")
sys.addaudithook(deny)
"""


def test_wordllama_loads_and_embeds_with_the_network_cut(tmp_path):
    script = NETWORK_CUT + (
        "from paperlake.embedders import WordLlamaEmbedder\n"
        "v = WordLlamaEmbedder().embed(['safety fine-tuning', 'reward model'])\n"
        "print(v.shape, round(float((v * v).sum(axis=1).mean()), 4))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "WORDLLAMA"))}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))  # no cached tokenizer to fall back on
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2, 256) 1.0"
    assert not (tmp_path / "cache").exists() and not (tmp_path / ".cache").exists()


def test_wordllama_vectors_are_normalised_and_meaningful():
    vectors = WordLlamaEmbedder().embed(["safety fine-tuning of chat models", "fine-tuning chat models for safety", "the price of bananas"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, 256)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > unrelated + 0.2


def test_wordllama_vectors_are_wordllamas_own():
    """Our pooling (one matrix product) gives WordLlama's vectors, whatever the batch and its padding."""
    from paperlake.embedders import load_wordllama

    texts = ["a", "safety fine-tuning of chat models " * 40, "Fig. 3: the reward model's loss, e.g. 0.25", "x y " * 300, ""]
    embedder = WordLlamaEmbedder(batch_size=2)
    ours = embedder.embed(texts)
    assert ours.shape == (5, 256) and ours.dtype == np.float32
    np.testing.assert_allclose(ours[:4], load_wordllama().embed(texts[:4], norm=True), atol=1e-6)
    assert not ours[4].any()  # no words: a zero vector (WordLlama's own norm divides 0 by 0)
    np.testing.assert_allclose(embedder.embed(texts[1:2]), ours[1:2], atol=1e-6)  # alone, unpadded


def test_an_openai_model_needs_a_key():
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_embedder(Settings(embed_model="text-embedding-3-small", openai_api_key=None))


def test_openai_embeddings_over_real_http_with_one_retry_layer(openai_server):
    settings = Settings(embed_model="text-embedding-3-small", openai_api_key="sk-test-0000", openai_base_url=openai_server.base_url,
                        llm_max_attempts=3)  # fmt: skip
    embedder = OpenAIEmbedder(settings)
    openai_server.fail_next(429, times=1, headers={"Retry-After": "0"}, endpoint="embeddings")
    vectors = embedder.embed(["a", "b", "c"])
    assert vectors.shape == (3, 64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert openai_server.calls["embeddings"] == 2  # the 429, then one success: no SDK retries on top
    openai_server.fail_next(500, times=5, endpoint="embeddings")
    with pytest.raises(Exception, match="500"):
        embedder.embed(["d"])
    assert openai_server.calls["embeddings"] == 2 + 3  # exactly llm_max_attempts attempts


def _remote(server, **overrides) -> Settings:
    """Settings for a model on the fake OpenAI-compatible server, as a user of vLLM or Ollama sets them."""
    values = {"embed_model": "nomic-embed-text", "embed_provider": "openai", "openai_api_key": "sk-test-0000",
              "openai_base_url": server.base_url, **overrides}  # fmt: skip
    return Settings(**values)


def test_any_model_name_is_served_by_an_openai_compatible_server(openai_server, monkeypatch):
    monkeypatch.setenv("PAPERLAKE_EMBED_MODEL", "nomic-embed-text")
    monkeypatch.setenv("PAPERLAKE_EMBED_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000")
    embedder = make_embedder(Settings())
    assert isinstance(embedder, OpenAIEmbedder) and embedder.model == "nomic-embed-text"
    vectors = embedder.embed(["alpha", "beta"])
    assert vectors.shape == (2, 64) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert [model for model, _ in openai_server.embedding_requests()] == ["nomic-embed-text"]


def test_the_provider_setting_selects_the_implementation(openai_server):
    assert isinstance(make_embedder(_remote(openai_server, embed_model="wordllama")), OpenAIEmbedder)  # forced
    assert isinstance(make_embedder(Settings(embed_model="wordllama", embed_provider="auto")), WordLlamaEmbedder)
    assert isinstance(make_embedder(_remote(openai_server, embed_provider="auto")), OpenAIEmbedder)  # any other name
    with pytest.raises(ConfigError, match="PAPERLAKE_EMBED_PROVIDER=local .*PAPERLAKE_EMBED_MODEL=nomic-embed-text"):
        make_embedder(_remote(openai_server, embed_provider="local"))


def test_a_missing_key_is_named_before_any_work():
    settings = Settings(embed_model="nomic-embed-text", embed_provider="openai", openai_api_key=None)
    with pytest.raises(ConfigError, match="PAPERLAKE_EMBED_MODEL=nomic-embed-text uses OpenAI, which needs OPENAI_API_KEY"):
        settings.check_providers(llm=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_embedder(settings)


@pytest.mark.parametrize(
    ("model", "query", "document"),
    [
        ("nomic-embed-text", "search_query: ", "search_document: "),
        ("nomic-ai/nomic-embed-text-v1.5", "search_query: ", "search_document: "),
        ("nomic-embed-text:latest", "search_query: ", "search_document: "),
        ("intfloat/e5-base-v2", "query: ", "passage: "),
        ("intfloat/multilingual-e5-small", "query: ", "passage: "),
        ("e5-large", "query: ", "passage: "),
        ("BAAI/bge-small-en-v1.5", "Represent this sentence for searching relevant passages: ", ""),
        ("bge-large-en", "Represent this sentence for searching relevant passages: ", ""),
        ("bge-m3", "", ""),  # needs no instruction
        ("intfloat/multilingual-e5-large-instruct", "", ""),  # wants a task instruction: set it yourself
        ("intfloat/e5-mistral-7b-instruct", "", ""),
        ("text-embedding-3-small", "", ""),
        ("wordllama", "", ""),
    ],
)
def test_prefixes_are_recognised_from_the_model_family(model, query, document):
    assert default_prefixes(model) == (query, document)


def test_queries_and_documents_reach_the_server_with_their_prefixes(openai_server):
    embedder = make_embedder(_remote(openai_server))
    documents = embedder.embed(["a passage about safety", "another passage"])
    queries = embedder.embed_queries(["what is safety tuning?"])
    assert openai_server.embedding_requests() == [
        ("nomic-embed-text", ["search_document: a passage about safety", "search_document: another passage"]),
        ("nomic-embed-text", ["search_query: what is safety tuning?"]),
    ]
    same_text = embedder.embed_queries(["a passage about safety"])
    assert float(same_text[0] @ documents[0]) < 0.99  # the sides really differ
    assert queries.shape == (1, 64)


def test_explicit_prefixes_win_and_an_empty_one_turns_a_default_off(openai_server):
    embedder = make_embedder(_remote(openai_server, embed_query_prefix="Q> ", embed_document_prefix=""))
    embedder.embed(["doc"])
    embedder.embed_queries(["ask"])
    assert [texts for _, texts in openai_server.embedding_requests()] == [["doc"], ["Q> ask"]]


def test_the_cache_scope_follows_the_server_and_the_document_prefix(openai_server):
    with type(openai_server)() as other_server:
        scopes = {
            "default": make_embedder(_remote(openai_server)).cache_scope,
            "again": make_embedder(_remote(openai_server)).cache_scope,
            "other prefix": make_embedder(_remote(openai_server, embed_document_prefix="passage: ")).cache_scope,
            "no prefix": make_embedder(_remote(openai_server, embed_document_prefix="")).cache_scope,
            "other server": make_embedder(_remote(other_server)).cache_scope,
        }
    assert scopes["default"] == scopes["again"]
    assert len({scopes[k] for k in ("default", "other prefix", "no prefix", "other server")}) == 4
    # Without a prefix the scope is what it was before prefixes existed: caches made then stay valid.
    assert scopes["no prefix"] == f"nomic-embed-text@{openai_server.base_url}"
    assert make_embedder(_remote(openai_server, embed_model="text-embedding-3-small")).cache_scope == (
        f"text-embedding-3-small@{openai_server.base_url}"
    )


def test_a_batch_of_queries_is_one_request_and_retried_once_per_attempt(openai_server):
    embedder = make_embedder(_remote(openai_server, llm_max_attempts=3))
    openai_server.fail_next(429, times=1, headers={"Retry-After": "0"}, endpoint="embeddings")
    vectors = embedder.embed_queries([f"question {i}" for i in range(5)])
    assert vectors.shape == (5, 64)
    requests = openai_server.embedding_requests()
    assert len(requests) == 2  # the 429, then one success: no SDK or llama-index retries on top
    assert requests[1][1] == [f"search_query: question {i}" for i in range(5)]

    small_batches = make_embedder(_remote(openai_server, embed_batch_size=2))
    small_batches.embed_queries([f"q{i}" for i in range(5)])
    assert [len(texts) for _, texts in openai_server.embedding_requests()[2:]] == [2, 2, 1]


def test_wordllama_takes_no_prefixes():
    embedder = make_embedder(Settings(embed_query_prefix="query: ", embed_document_prefix="passage: "))
    assert isinstance(embedder, WordLlamaEmbedder) and embedder.cache_scope == "wordllama"
    texts = ["safety fine-tuning", "reward model"]
    assert np.array_equal(embedder.embed_queries(texts), embedder.embed(texts))


def test_the_llamaindex_adapter_routes_queries_and_texts_to_their_sides(openai_server):
    from paperlake.llamaindex import EmbedderAdapter

    adapter = EmbedderAdapter(make_embedder(_remote(openai_server)))
    query = adapter.get_query_embedding("what is safety tuning?")
    texts = adapter.get_text_embedding_batch(["passage one", "passage two"])
    assert openai_server.embedding_requests() == [
        ("nomic-embed-text", ["search_query: what is safety tuning?"]),
        ("nomic-embed-text", ["search_document: passage one", "search_document: passage two"]),
    ]
    assert len(query) == 64 and len(texts) == 2
