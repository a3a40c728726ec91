"""Imported once by the parser's forkserver: loads the sentence splitter's data up front.

The first split in a process loads NLTK's punkt model and tiktoken's vocabulary (~1.2 s,
both shipped inside llama-index-core, never downloaded). Paying it here, before any fork,
means no paper ever pays it.
"""

from __future__ import annotations

from tasks.chunk import ChunkingOptions, build_nodes

# Longer than a parent chunk, so every splitter really splits by sentence (short text skips the models).
_TEXT = " ".join(f"Sentence {i} warms the splitter, and loads its models once." for i in range(300))
build_nodes("warmup", [_TEXT], ChunkingOptions())
