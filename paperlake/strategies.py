"""The retrieval strategies' names: light enough for the CLI's argument parser to import.

storage/search.py implements them; keeping the names here means `paperlake ingest` and other commands
that never search do not load numpy, DuckDB and the embedders just to build `--strategy`'s choices.
"""

from __future__ import annotations

STRATEGIES: tuple[str, ...] = ("baseline", "chunks", "metadata", "hybrid")
DEFAULT_STRATEGY = "hybrid"  # best on the dev set (README, "Retrieval quality")

# How `hybrid` fuses its rankings: relative score fusion (each list's scores min-max scaled, summed), or
# reciprocal rank fusion (1 / (60 + rank) summed). Relative is the default: best on the dev set.
FUSIONS: tuple[str, ...] = ("relative", "rrf")
DEFAULT_FUSION = "relative"
