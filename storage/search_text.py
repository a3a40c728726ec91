"""Lexical side of search: one tokenizer for stored texts and queries, its vocabulary, and BM25 indexes
(bm25s) saved, loaded and scored; storage/search_bm25.py builds them.

Tokens are lower-cased words, minus NLTK's English stopword list, Snowball-stemmed (PyStemmer), so
"fine-tuning", "Fine-Tuned" and "finetunes" meet. NLTK's list ships inside llama-index-core's package
data; it is read from there as a plain file (llama-index itself is never imported on the query path,
and nothing is ever downloaded). bm25s was chosen over DuckDB's `fts` by measurement (bench/search.py):
it scores a query from a sparse matrix in milliseconds where `match_bm25` scans every document.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np
import pyarrow as pa


@dataclass
class FlatDocs:
    """Documents as token ids, one after another (`ids`), with each document's token count (`lengths`)."""

    ids: np.ndarray
    lengths: np.ndarray


_WORD = re.compile(r"\w+")
_STOPWORDS_IN_PACKAGE = ("_static", "nltk_cache", "corpora", "stopwords", "english")
# Used only if llama-index-core's package data ever moves: the common core of every English list.
_FALLBACK_STOPWORDS = frozenset(
    "a an and are as at be but by for from has have in is it its of on or that the their this to was were which with".split()
)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """NLTK's English stopwords (179 words), from the file inside llama-index-core, without importing it."""
    spec = importlib.util.find_spec("llama_index.core")  # imports only the `llama_index` namespace package
    if spec is None or not spec.submodule_search_locations:
        return _FALLBACK_STOPWORDS
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_STOPWORDS_IN_PACKAGE)
    if not path.is_file():
        return _FALLBACK_STOPWORDS
    return frozenset(word.strip() for word in path.read_text(encoding="utf-8").splitlines() if word.strip())


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: Snowball in C, with its own word cache

    return Stemmer.Stemmer("english")


def tokenize(text: str, *, stem: bool = True, stop: frozenset[str] | None = None, pairs: bool = True) -> list[str]:
    """Stemmed content words of `text` (repeats kept: BM25 counts them), then each adjacent pair of them.

    The pairs make multi-word names count as names: "proof of history", "consensus algorithm", a cited
    paper's title; on the Solana dev set they lift hybrid MRR@5 from 0.867 to 0.940 (bench/search_levers.py).
    The keywords exist for that bench's variants; the index and every query use the defaults (NLTK stopwords)."""
    stop = stopwords() if stop is None else stop
    # Capped length: the vocabulary is stored as fixed-width strings; 40 characters keep every real word.
    words = [word[:40] for word in _WORD.findall(text.lower()) if word not in stop]
    if stem:
        words = _stemmer().stemWords(words)
    return words + [f"{a}_{b}" for a, b in zip(words, words[1:], strict=False)] if pairs else words


class Vocabulary:
    """Token -> id, grown while indexing; shared by every BM25 index of one search index."""

    def __init__(self, tokens: Sequence[str] = ()) -> None:
        self.ids: dict[str, int] = {token: i for i, token in enumerate(tokens)}

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        flat = self.encode_flat(texts)
        every, ends = flat.ids.tolist(), np.cumsum(flat.lengths).tolist()
        return [every[start:end] for start, end in zip([0, *ends], ends, strict=False)]

    def encode_flat(self, texts: Sequence[str]) -> FlatDocs:
        """Token ids of the texts, one after another, and each text's count. Arrow hashes the batch's
        tokens in C: one dictionary lookup per distinct token instead of per occurrence (2x here)."""
        docs = [tokenize(text) for text in texts]
        lengths = np.fromiter(map(len, docs), np.int64, len(docs))
        flat = pa.array(list(chain.from_iterable(docs)), pa.string()).dictionary_encode()
        ids = self.ids
        mapping = np.fromiter((ids.setdefault(t, len(ids)) for t in flat.dictionary.to_pylist()), np.int64, len(flat.dictionary))
        return FlatDocs(mapping[flat.indices.to_numpy(zero_copy_only=False)] if len(flat) else np.zeros(0, np.int64), lengths)

    def lookup(self, text: str) -> list[int]:
        """Ids of the query's known tokens (unknown ones cannot match any document)."""
        return [i for i in map(self.ids.get, tokenize(text)) if i is not None]

    def tokens(self) -> list[str]:
        return list(self.ids)  # dicts keep insertion order, which is id order


def save_bm25(index, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if index is None:
        return
    index.save(str(folder), allow_pickle=False, show_progress=False)
    (folder / "vocab.index.json").unlink(missing_ok=True)  # the build keeps one vocabulary for all indexes


def load_bm25(folder: Path):
    """The index saved in `folder`, memory-mapped; None for an index of no documents."""
    import bm25s

    if not (folder / "params.index.json").is_file():
        if folder.is_dir():
            return None
        raise FileNotFoundError(folder)
    return bm25s.BM25.load(str(folder), mmap=True, allow_pickle=False, load_vocab=False)


def bm25_scores(index, query_ids: list[int]) -> np.ndarray:
    """BM25 score of every document for one query (zeros when no query token is known)."""
    n_docs = 0 if index is None else int(index.scores["num_docs"])
    if not query_ids or n_docs == 0:
        return np.zeros(n_docs, dtype=np.float32)
    return np.asarray(index.get_scores_from_ids(query_ids), dtype=np.float32)


