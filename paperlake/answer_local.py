"""The offline answerer: the retrieved sentences that best match the question, each with its citation.

No model writes anything: every sentence of the answer is quoted from a retrieved passage. A sentence
qualifies when it holds at least two of the question's content words (one, for a one-word question)
and at least a third of them: content words are the question's words minus English stopwords and the
words that only frame a question ("according", "passage"), compared after Snowball stemming, so
"projected" meets "projection". When no sentence qualifies, the answer is "not in the passages".
Qualifying sentences are ranked by that share, then by embedding similarity to the question.

Chat follow-ups are made standalone without a model: a follow-up that leans on the conversation (a
pronoun, or fewer than two content words) gets the previous question's content words it lacks appended.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from paperlake.answer_prompts import NOT_FOUND, ShownPassage
from paperlake.local_extractive import passage_sentences, stopwords
from paperlake.relevance import word_tokens
from paperlake.settings import LOCAL_LLM_MODELS

if TYPE_CHECKING:
    from paperlake.embedders import Embedder

MIN_MATCHED = 2  # content words of the question a sentence must hold (all of them, for shorter questions)
MIN_SHARE = 1 / 3  # ... and at least this share of them
MAX_SENTENCES = 3
# Words that frame a question about a text rather than name its subject.
QUESTION_FRAME = frozenset(
    "according context information paper papers passage passages text texts document documents "
    "describe described mention mentioned tell explain please give say said show shown".split()
)
PRONOUNS = frozenset("it its they them their theirs this that these those he him his she her".split())


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: Snowball in C

    return Stemmer.Stemmer("english")


def _words(text: str) -> list[tuple[str, str]]:
    """(word as written, stem) of each content word, first occurrence of each stem only."""
    skip = stopwords() | QUESTION_FRAME
    words = [w for w in word_tokens(text) if w not in skip]
    first: dict[str, str] = {}
    for word, stem in zip(words, _stemmer().stemWords(words), strict=True):
        first.setdefault(stem, word)
    return [(word, stem) for stem, word in first.items()]


def content_words(text: str) -> list[str]:
    """Stemmed content words of `text`, in order, each once."""
    return [stem for _, stem in _words(text)]


def qualifies(question_words: set[str], sentence: str) -> float | None:
    """The share of the question's content words the sentence holds, or None when below the bar."""
    if not question_words:
        return None
    matched = len(question_words & set(content_words(sentence)))
    if matched >= min(MIN_MATCHED, len(question_words)) and matched >= MIN_SHARE * len(question_words):
        return matched / len(question_words)
    return None


def best_sentences(question: str, passages: Sequence[ShownPassage], embedder: Embedder) -> list[tuple[str, int]]:
    """(sentence, passage index) of the best qualifying sentences, best first; [] when none qualifies."""
    wanted = set(content_words(question))
    found: list[tuple[float, str, int]] = []
    seen: set[str] = set()
    for index, passage in enumerate(passages):
        for sentence in passage_sentences(passage.text):
            key = " ".join(word_tokens(sentence))
            share = qualifies(wanted, sentence) if key not in seen else None
            seen.add(key)  # parents overlap: a sentence in two passages is quoted once, from the better one
            if share is not None:
                found.append((share, sentence, index))
    if not found:
        return []
    question_vector = np.asarray(embedder.embed_queries([question]), dtype=np.float32)[0]
    similarity = np.asarray(embedder.embed([s for _, s, _ in found]), dtype=np.float32) @ question_vector
    order = sorted(range(len(found)), key=lambda i: (-found[i][0], -float(similarity[i]), i))
    return [(found[i][1], found[i][2]) for i in order[:MAX_SENTENCES]]


def needs_context(question: str) -> bool:
    return bool(PRONOUNS & set(word_tokens(question))) or len(content_words(question)) < MIN_MATCHED


def condense_local(history: Sequence[tuple[str, str]], question: str) -> str:
    """The follow-up as a standalone query: the previous (standalone) question's missing content words appended."""
    if not history or not needs_context(question):
        return question
    previous = condense_local(history[:-1], history[-1][0])
    have = set(content_words(question))
    missing = [word for word, stem in _words(previous) if stem not in have]
    return f"{question.strip()} ({' '.join(missing)})" if missing else question


class ExtractiveAnswerModel:
    """`local-extractive`: quotes, never writes. Deterministic; the embedder only ranks qualifying sentences."""

    model = LOCAL_LLM_MODELS[0]
    extractive = True

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._lock = threading.Lock()  # embedders are not promised to be thread-safe

    async def answer(self, question: str, passages: Sequence[ShownPassage]) -> str:
        with self._lock:
            chosen = best_sentences(question, passages, self.embedder)
        return " ".join(f"{sentence} {passages[index].marker}" for sentence, index in chosen) or NOT_FOUND

    async def condense(self, history: Sequence[tuple[str, str]], question: str) -> str:
        return condense_local(history, question)

    async def aclose(self) -> None:
        pass  # nothing held open
