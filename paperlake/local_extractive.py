"""The offline stand-in for the LLM: no model call, deterministic, and labelled as such.

The summary is the passage's sentences closest to its embedding centroid; the questions fill
templates from its headings and RAKE key phrases. NLTK's data is read from the copy shipped
inside llama-index-core, never downloaded.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import threading
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paperlake.llm_base import ExtractionOutput
from paperlake.prompts import LOCAL_PROMPT_VERSION, ExtractionFailed, local_questions
from paperlake.settings import LOCAL_LLM_MODELS

if TYPE_CHECKING:
    from paperlake.embedders import Embedder

# Bump prompts.LOCAL_EXTRACTIVE_ALGORITHM when changing these: it keys the cache.
_HEADING = re.compile(
    r"^\s*(?:\d+(?:\.\d+)*\.?\s+([A-Z][^\n.]{2,80})|(Abstract|Introduction|Related Work|Background|"
    r"Methods?|Experiments|Results|Discussion|Conclusions?|Limitations|Acknowledge?ments))\s*$",
    re.MULTILINE,
)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9\-]*[A-Za-z0-9]")
_MAX_PHRASE_WORDS, _MAX_WORD_CHARS = 3, 24  # longer "words" are glued PDF text


@lru_cache(maxsize=1)
def _nltk_dir() -> Path:
    """The NLTK data shipped inside llama-index-core: read from there, never downloaded."""
    spec = importlib.util.find_spec("llama_index.core")
    assert spec is not None and spec.submodule_search_locations, "llama-index-core is installed"
    return Path(spec.submodule_search_locations[0]) / "_static" / "nltk_cache"


@lru_cache(maxsize=1)
def _sentence_tokenizer() -> Any:
    import nltk.data
    from nltk.tokenize.punkt import PunktTokenizer

    # nltk only opens files under its search path; a missing model is a LookupError, never a download.
    if str(_nltk_dir()) not in nltk.data.path:
        nltk.data.path.append(str(_nltk_dir()))
    return PunktTokenizer("english")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """NLTK's English stopword list, from the copy inside llama-index-core."""
    return frozenset((_nltk_dir() / "corpora" / "stopwords" / "english").read_text().split())


def passage_headings(passage: str) -> list[str]:
    return [" ".join((m.group(1) or m.group(2)).split()) for m in _HEADING.finditer(passage)]


def _segments(passage: str) -> list[str]:
    """The text between heading lines, whitespace collapsed: no sentence or phrase spans a heading."""
    return [" ".join(part.split()) for part in _HEADING.split(passage)[:: 3] if part and part.strip()]


def passage_sentences(passage: str) -> list[str]:
    """Sentences of the passage without its heading lines, whitespace collapsed."""
    segments = _segments(passage)
    sentences = [s.strip() for segment in segments for s in _sentence_tokenizer().tokenize(segment)]
    return [s for s in sentences if len(s.split()) >= 3] or segments[:1]


def _phrase_runs(text: str) -> list[list[str]]:
    """Runs of up to 3 adjacent content words; stopwords, punctuation and glued PDF text end a run."""
    stop, runs, current, last_end = stopwords(), [], [], 0
    for match in _TOKEN.finditer(text):
        word = match.group()
        adjacent = not text[last_end : match.start()].strip() and len(current) < _MAX_PHRASE_WORDS
        content = word.casefold() not in stop and len(word) <= _MAX_WORD_CHARS
        if current and not (adjacent and content):
            runs.append(current)
            current = []
        if content:
            current.append(word)
        last_end = match.end()
    return [*runs, current] if current else runs


def key_phrases(passage: str, limit: int = 6) -> list[str]:
    """RAKE: phrases ranked by their words' degree/frequency (plus repeats), first seen wins ties."""
    runs = _phrase_runs("\n.\n".join(_segments(passage)))
    frequency = Counter(w.casefold() for run in runs for w in run)
    degree: Counter[str] = Counter()
    for run in runs:
        for word in run:
            degree[word.casefold()] += len(run)
    ranked: dict[str, tuple[float, int, str]] = {}
    for order, run in enumerate(runs):
        words = [w.casefold() for w in run]
        score = sum(degree[w] / frequency[w] for w in words) + frequency[words[0]] - 1
        ranked.setdefault(" ".join(words), (-score, order, " ".join(run)))
    chosen: list[str] = []
    for *_, phrase in sorted(ranked.values()):
        if not any(phrase.casefold() in kept.casefold() for kept in chosen):
            chosen.append(phrase)
    return chosen[:limit]


def centroid_summary(sentences: list[str], embedder: Embedder, k: int) -> str:
    """The k sentences nearest the passage's mean embedding, in their original order."""
    if len(sentences) <= k:
        return " ".join(sentences)
    vectors = embedder.embed(sentences)
    centroid = vectors.mean(axis=0)
    scores = vectors @ (centroid / (np.linalg.norm(centroid) or 1.0))
    best = sorted(np.argsort(-scores, kind="stable")[:k].tolist())
    return " ".join(sentences[i] for i in best)


class LocalExtractiveLLM:
    """No model call at all: extractive summary and templated questions, deterministic."""

    model = LOCAL_LLM_MODELS[0]

    def __init__(self, embedder: Embedder, summary_sentences: int = 3) -> None:
        self.embedder = embedder
        self.summary_sentences = summary_sentences
        # The embedder picks the sentences, so it is part of what produced the output.
        self.prompt_version = f"{LOCAL_PROMPT_VERSION}-{embedder.model}-{summary_sentences}"
        self._lock = threading.Lock()  # embedders are not promised to be thread-safe

    async def extract(self, passage: str) -> ExtractionOutput:
        return await asyncio.to_thread(self.extract_sync, passage)

    async def aclose(self) -> None:
        pass  # nothing held open

    def extract_sync(self, passage: str) -> ExtractionOutput:
        flat = " ".join(passage.split())
        if not flat:
            raise ExtractionFailed("empty passage")
        sentences = passage_sentences(passage) or [flat[:500]]  # a passage that is only a heading
        with self._lock:
            summary = centroid_summary(sentences, self.embedder, self.summary_sentences)
        questions = local_questions(passage_headings(passage), key_phrases(passage))
        return ExtractionOutput(summary, questions)
