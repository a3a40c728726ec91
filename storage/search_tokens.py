"""The build's tokens: each passage's token ids, kept with the build so the next build reuses them.

Tokenizing was a third of a rebuild at a million nodes (about 21 of 61 s), and a lake change touches a
few papers. A node id derives from the node's content and position, so a node id the previous build holds is
the same text; its tokens are taken from there when its paper's title (which heads every passage it
indexes) is also unchanged. Only new or changed passages are tokenized. The vocabulary starts as the
previous one, so reused ids stay valid, and is renumbered at the end as a build from nothing numbers it:
a build that reused tokens writes the same files as one that did not (tests/storage/test_search_build.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from storage.search_index import SearchIndex
from storage.search_text import FlatDocs, Vocabulary

log = logging.getLogger(__name__)
GROUPS = ("parents", "children")  # the groups whose texts BM25 indexes


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated aranges [start, start + length) for each pair, without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)


def _starts(lengths: np.ndarray) -> np.ndarray:
    """Where each document begins in the flat token array."""
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def save_tokens(folder: Path, group: str, docs: FlatDocs) -> None:
    np.save(folder / f"tokens_{group}.npy", docs.ids.astype(np.int32))
    np.save(folder / f"token_lengths_{group}.npy", docs.lengths.astype(np.int32))


class TokenReuse:
    """Looks passages up in the previous build (None: nothing to reuse) and tokenizes the rest."""

    def __init__(self, previous: SearchIndex | None, titles: dict[str, str]) -> None:
        self.vocab, self.reused = Vocabulary(), 0
        # group -> (its first row in the previous build, which of its rows may be reused, their token starts,
        # lengths and the tokens themselves)
        self._groups: dict[str, tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        if previous is None:
            return
        try:
            self._load(previous, titles)
        except (OSError, ValueError, IndexError) as exc:  # a damaged previous build: tokenize everything
            log.info("search index: not reusing the previous build's tokens (%s)", exc)
            self.vocab, self._groups = Vocabulary(), {}

    def _load(self, previous: SearchIndex, titles: dict[str, str]) -> None:
        by_id = np.empty(len(previous.vocab), dtype=previous.vocab.dtype)
        by_id[np.asarray(previous.vocab_ids)] = previous.vocab
        self.vocab = Vocabulary(by_id.tolist())
        old_titles = previous.papers.column("title").to_pylist()
        same = np.array([titles.get(pid, None) == (old_titles[i] or "") for i, pid in
                         enumerate(previous.papers.column("paper_id").to_pylist())], dtype=bool)  # fmt: skip
        m = previous.meta
        for group, (start, count) in zip(GROUPS, ((0, m.n_parents), (m.n_parents, m.n_children)), strict=True):
            lengths = np.load(previous.folder / f"token_lengths_{group}.npy").astype(np.int64)
            starts = _starts(lengths)
            usable = same[np.asarray(previous.paper[start : start + count])] if count else np.zeros(0, bool)
            tokens = np.load(previous.folder / f"tokens_{group}.npy", mmap_mode="r")
            if len(lengths) != count or int(lengths.sum()) != len(tokens):
                raise ValueError(f"tokens_{group}.npy does not match the build's {count} passages")
            self._groups[group] = (start, usable, starts, lengths, tokens)

    def encode(self, group: str, previous_rows: np.ndarray, texts: Callable[[np.ndarray], list[str]]) -> FlatDocs:
        """Token ids of these passages, reusing what it can. `previous_rows`: each passage's row in the
        previous build (-1: none); `texts(rows)`: the texts (headed by their title) of those rows, asked
        only for the passages to tokenize."""
        found = self._groups.get(group)
        n = len(previous_rows)
        at = np.full(n, -1, np.int64)
        if found is not None:
            start, usable = found[0], found[1]
            rel = previous_rows - start
            ok = (previous_rows >= 0) & (rel >= 0) & (rel < len(usable))
            ok[ok] = usable[rel[ok]]
            at[ok] = rel[ok]
        fresh = at < 0
        new = self.vocab.encode_flat(texts(np.flatnonzero(fresh)))
        lengths = np.zeros(n, np.int64)
        lengths[fresh] = new.lengths
        if found is not None and (~fresh).any():
            _, _, starts, old_lengths, tokens = found
            lengths[~fresh] = old_lengths[at[~fresh]]
            out = np.empty(int(lengths.sum()), np.int64)
            out_starts = _starts(lengths)
            out[_ranges(out_starts[~fresh], lengths[~fresh])] = tokens[_ranges(starts[at[~fresh]], lengths[~fresh])]
            out[_ranges(out_starts[fresh], lengths[fresh])] = new.ids
            self.reused += int((~fresh).sum())
        else:
            out = new.ids
        return FlatDocs(out, lengths)

    def finish(self, groups: dict[str, FlatDocs]) -> tuple[Vocabulary, dict[str, FlatDocs]]:
        """The vocabulary and documents as a build from nothing numbers them: only the tokens in use, in
        the order the documents (parents, then children) first use them. Without reuse they already are."""
        if not self._groups:
            return self.vocab, groups
        flat = np.concatenate([groups[g].ids for g in GROUPS if g in groups] or [np.zeros(0, np.int64)])
        used, first = np.unique(flat, return_index=True)
        order = used[np.argsort(first, kind="stable")]
        renumber = np.full(len(self.vocab.tokens()), -1, np.int64)
        renumber[order] = np.arange(len(order))
        tokens = self.vocab.tokens()
        return Vocabulary([tokens[i] for i in order.tolist()]), {g: FlatDocs(renumber[d.ids], d.lengths) for g, d in groups.items()}
