"""Word tokens, and the relevance rule of the retrieval evaluation built on them.

Word tokens are maximal runs of letters and digits, case-folded ("Proof-of-History," gives
`proof`, `of`, `history`), counted with their repeats (a bag). Punctuation, hyphenation and the
line breaks of PDF text therefore do not matter; words split by a PDF extractor ("comprehe nsive")
do, which is why the rule asks for half of a context's tokens and not all of them.

`coverage(reference, found)` is the share of the reference's tokens that `found` also holds,
counting repeats: sum over tokens t of min(reference[t], found[t]) / number of reference tokens.

Relevance (fixed by the issue): a parent passage is relevant to a question of a LlamaIndex
`LabelledRagDataset` when its coverage of at least one reference context is >= 1/2.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; "_" is not a word character here

Bag = Counter[str]


def word_tokens(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def bag(text: str) -> Bag:
    return Counter(word_tokens(text))


def covered(reference: Bag, found: Bag) -> int:
    """How many of the reference's tokens (with repeats) `found` holds too."""
    return sum(min(count, found[token]) for token, count in reference.items() if token in found)


def coverage(reference: Bag, found: Bag) -> float:
    total = reference.total()
    return covered(reference, found) / total if total else 0.0


def meets_rule(reference: Bag, passage: Bag) -> bool:
    """At least half of the reference's tokens are in the passage (exact, in integers)."""
    total = reference.total()
    return total > 0 and 2 * covered(reference, passage) >= total


def merged(bags: Iterable[Bag]) -> Bag:
    """The bag of several texts read together (the top k passages, or all reference contexts)."""
    out: Bag = Counter()
    for one in bags:
        out.update(one)
    return out


class RelevanceIndex:
    """Every parent of the lake as a bag, plus postings, to find all parents relevant to a context.

    Testing every parent against every context is questions x parents bag comparisons; instead only
    parents holding one of the context's rarest tokens are tested. That is exact: a parent holding none
    of a set S of the context's tokens covers at most total - count(S), so once count(S) > total / 2
    it cannot reach half, and every parent that can is in the postings of S.
    """

    def __init__(self, parents: Mapping[str, str]) -> None:
        self.bags: dict[str, Bag] = {node_id: bag(text) for node_id, text in parents.items()}
        self._postings: dict[str, list[str]] = defaultdict(list)
        for node_id, passage in self.bags.items():
            for token in passage:
                self._postings[token].append(node_id)

    def __len__(self) -> int:
        return len(self.bags)

    def bag_of(self, node_id: str) -> Bag:
        return self.bags.get(node_id, Counter())

    def _candidates(self, reference: Bag) -> set[str]:
        by_rarity = sorted(reference, key=lambda token: (len(self._postings.get(token, ())), token))
        chosen, total, found = 0, reference.total(), set()
        for token in by_rarity:
            found.update(self._postings.get(token, ()))
            chosen += reference[token]
            if 2 * chosen > total:
                break
        return found

    def relevant_to(self, contexts: Sequence[str]) -> frozenset[str]:
        """Parents meeting the rule for at least one of the reference contexts."""
        relevant: set[str] = set()
        for context in contexts:
            reference = bag(context)
            relevant.update(n for n in self._candidates(reference) if meets_rule(reference, self.bags[n]))
        return frozenset(relevant)
