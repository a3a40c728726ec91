from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from paperlake.embedders import OpenAIEmbedder, WordLlamaEmbedder, make_embedder
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
