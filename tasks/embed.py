"""Embed nodes through a content-keyed cache: unchanged text is never embedded twice.

The key is (model, sha256 of the text), so a re-ingest, a re-chunk that repeats text, or a
summary seen before costs no embedding call, whatever run or process computed it first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from paperlake.embedders import Embedder
from storage.cache import ContentCache

# One model instance per process is shared by the worker threads; serialising calls keeps
# tokenizers and HTTP clients safe without measurable cost (the model batches internally).
_EMBED_LOCK = threading.Lock()


@dataclass
class EmbedStats:
    texts: int = 0
    computed: int = 0  # texts sent to the model
    cached: int = 0
    calls: int = 0  # embed() batches sent to the model


def embed_texts(texts: list[str], digests: list[str], embedder: Embedder, cache: ContentCache) -> tuple[np.ndarray, EmbedStats]:
    """One normalised row per text, in order; only texts missing from the cache reach the model."""
    stats = EmbedStats(texts=len(texts))
    found = cache.get_many(embedder.cache_scope, digests)
    missing = {d: t for d, t in zip(digests, texts, strict=True) if d not in found}
    stats.cached = len(set(digests)) - len(missing)
    fresh: dict[str, bytes] = {}
    items = list(missing.items())
    for start in range(0, len(items), embedder.request_size):
        batch = items[start : start + embedder.request_size]
        with _EMBED_LOCK:
            vectors = embedder.embed([text for _, text in batch])
        stats.calls += 1
        fresh.update((d, np.asarray(v, dtype=np.float32).tobytes()) for (d, _), v in zip(batch, vectors, strict=True))
    cache.put_many(embedder.cache_scope, fresh)
    stats.computed = len(fresh)
    rows = {**found, **fresh}
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), stats
    return np.stack([np.frombuffer(rows[d], dtype=np.float32) for d in digests]), stats
