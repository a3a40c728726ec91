"""Embed nodes through a content-keyed cache: unchanged text is never embedded twice.

The key is (model, sha256 of the text), so a re-ingest, a re-chunk that repeats text, or a
summary seen before costs no embedding call, whatever run or process computed it first. Two layers:
the local SQLite cache (fast, per machine) and, behind it, the lake itself (`shared`): a process
with an empty cache folder still makes no call for a text whose vector the lake already holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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
    cached: int = 0  # distinct texts served by the local cache or the lake
    from_lake: int = 0  # of those, found in the lake (and now in the local cache too)
    calls: int = 0  # embed() batches sent to the model


SharedVectors = Callable[[list[str]], dict[str, bytes]]  # text sha256 digests -> float32 bytes


def embed_texts(
    texts: list[str], digests: list[str], embedder: Embedder, cache: ContentCache, shared: SharedVectors | None = None
) -> tuple[np.ndarray, EmbedStats]:
    """One normalised row per text, in order; only texts in neither the cache nor `shared` reach the model."""
    stats = EmbedStats(texts=len(texts))
    found = cache.get_many(embedder.cache_scope, digests)
    if shared is not None and (wanted := sorted(set(digests) - set(found))):
        from_lake = shared(wanted)
        cache.put_many(embedder.cache_scope, from_lake)
        found.update(from_lake)
        stats.from_lake = len(from_lake)
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
