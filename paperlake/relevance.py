"""Word tokens, and the relevance rule of the retrieval evaluation built on them.

Word tokens are maximal runs of letters and digits, case-folded ("Proof-of-History," gives
`proof`, `of`, `history`), so punctuation, hyphenation and PDF line breaks do not matter.

Containment: a token of a reference context is *contained* in a passage when it lies inside a run of
three consecutive reference tokens (a word 3-gram) that also occurs, consecutively, in the passage;
a reference shorter than three tokens must occur whole. Counting scattered words instead (a bag of
words) was measured on the Solana dataset: every reference context then "half-matched" two to six
unrelated passages of the same paper through function words and the paper's vocabulary (coverages of
0.50-0.55 beside 0.8-0.99 for the source passage), which made misses count as hits. With 3-grams
unrelated passages stay below 0.15 and a context split across two passages still shows in both.
Words broken by a PDF extractor ("comprehe nsive") only cost the 3-grams around them.

Relevance (fixed by the issue): a parent passage is relevant to a question when it contains at least
half of the word tokens of one of its reference contexts. Context recall uses the same containment.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; "_" is not a word character here
GRAM = 3  # words in a row that make a match

Gram = tuple[str, ...]


def word_tokens(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def grams(tokens: Sequence[str], n: int) -> set[Gram]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


class Reference:
    """One reference context, tokenised, with the n-gram starting at each position."""

    def __init__(self, text: str) -> None:
        self.tokens = word_tokens(text)
        self.n = min(GRAM, len(self.tokens))
        self.starts: list[Gram] = [tuple(self.tokens[i : i + self.n]) for i in range(len(self.tokens) - self.n + 1)]

    def __len__(self) -> int:
        return len(self.tokens)

    def contained(self, passage_grams: Iterable[set[Gram]]) -> set[int]:
        """Positions of this reference's tokens contained in any of the passages (their n-gram sets)."""
        held = set().union(*passage_grams)
        return {i + j for i, gram in enumerate(self.starts) if gram in held for j in range(self.n)}

    def half_in(self, passage_grams: set[Gram]) -> bool:
        return bool(self.tokens) and 2 * len(self.contained([passage_grams])) >= len(self.tokens)


class Passages:
    """Parent passages by node id, tokenised once; n-gram sets made on demand for the few ranked ones."""

    def __init__(self, texts: Mapping[str, str]) -> None:
        self.tokens = {node_id: word_tokens(text) for node_id, text in texts.items()}
        self._grams: dict[tuple[str, int], set[Gram]] = {}

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.tokens

    def __len__(self) -> int:
        return len(self.tokens)

    def grams(self, node_id: str, n: int) -> set[Gram]:
        key = (node_id, n)
        if key not in self._grams:
            self._grams[key] = grams(self.tokens.get(node_id, []), n)
        return self._grams[key]


def context_recall(references: Sequence[Reference], passages: Passages, node_ids: Sequence[str]) -> float:
    """Share of all the references' tokens contained in the passages read together."""
    total = sum(len(r) for r in references)
    found = sum(len(r.contained(passages.grams(n, r.n) for n in node_ids)) for r in references)
    return found / total if total else 0.0


class RelevanceIndex:
    """Finds every passage of the lake relevant to a dataset's references without testing each pair.

    Postings hold only the n-grams the references use (memory stays small whatever the lake's size).
    A passage is tested only when the reference positions whose n-gram it holds could cover half of
    the reference (each position covers at most n tokens): exact pruning, not an approximation.
    """

    def __init__(self, passages: Passages, references: Iterable[Reference]) -> None:
        self.passages = passages
        wanted: dict[int, set[Gram]] = defaultdict(set)
        for reference in references:
            wanted[reference.n].update(reference.starts)
        self._postings: dict[Gram, list[str]] = defaultdict(list)
        for node_id, tokens in passages.tokens.items():
            for n, useful in wanted.items():
                for gram in grams(tokens, n) & useful:  # built and dropped per passage: none kept for the lake
                    self._postings[gram].append(node_id)

    def relevant_to(self, references: Sequence[Reference]) -> frozenset[str]:
        """Passages holding at least half of the tokens of at least one of the references."""
        relevant: set[str] = set()
        for reference in references:
            held_at: Counter[str] = Counter()
            for gram in reference.starts:
                held_at.update(self._postings.get(gram, ()))
            need = math.ceil(len(reference) / 2)
            for node_id, positions in held_at.items():
                if node_id not in relevant and positions * reference.n >= need:
                    if reference.half_in(self.passages.grams(node_id, reference.n)):
                        relevant.add(node_id)
        return frozenset(relevant)
