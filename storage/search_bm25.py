"""bm25s's index, built with whole-array numpy instead of its per-document Python loops.

bm25s (pinned) keeps the index format, saving, memory-mapped loading and scoring; this replaces only
`BM25.build_index_from_ids`, which bm25s documents as the method to override "to build the index in a
different way". Its own build counts, scores and places every document's tokens in Python: 2.9 s for
100k short texts here against 0.37 s for this one (a third of a search-index build at a million nodes
went there). The same Lucene
BM25 (k1=1.5, b=0.75) computed over flat arrays gives the same matrix (tests/storage/test_search_bm25.py
checks it against bm25s's own build, value for value). Imported only when an index is built.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import bm25s
import numpy as np

from storage.search_text import FlatDocs, Vocabulary


@dataclass
class _Corpus:
    """What `BM25.index` takes as an already tokenized corpus: `ids` per document and the vocabulary."""

    ids: FlatDocs
    vocab: dict[str, int]


class FlatBM25(bm25s.BM25):
    """A bm25s index whose build takes `FlatDocs` (through `index_flat`)."""

    def index_flat(self, docs: FlatDocs, vocab: dict[str, int]) -> None:
        self.index(_Corpus(docs, vocab), create_empty_token=False, show_progress=False)

    def build_index_from_ids(self, unique_token_ids, corpus_token_ids, show_progress=True, leave_progress=False):
        if not isinstance(corpus_token_ids, FlatDocs) or self.method != "lucene" or self.idf_method != "lucene":
            return super().build_index_from_ids(unique_token_ids, corpus_token_ids, show_progress, leave_progress)
        self.nonoccurrence_array = None  # as bm25s's build leaves it for Lucene (only BM25L and BM25+ use one)
        return lucene_matrix(corpus_token_ids, len(unique_token_ids), self.k1, self.b, np.dtype(self.dtype), np.dtype(self.int_dtype))


def lucene_matrix(docs: FlatDocs, n_vocab: int, k1: float, b: float, dtype: np.dtype, int_dtype: np.dtype) -> dict:
    """The document x token score matrix, in the CSC arrays bm25s stores: every (token, document) pair
    once, ordered by token then document, scored idf(token) * tf / (k1 * (1 - b + b * len / avg) + tf).

    The arithmetic follows bm25s's own, operation for operation (idf in float64 rounded to float32, the
    term-frequency part in float64, the product rounded to float32), so the values are bit-identical."""
    lengths = np.asarray(docs.lengths, dtype=np.int64)
    n_docs = len(lengths)
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    pairs, tf = np.unique(np.asarray(docs.ids, dtype=np.int64) * n_docs + doc, return_counts=True)  # sorted: token, then doc
    token, row = pairs // max(n_docs, 1), pairs % max(n_docs, 1)
    df = np.bincount(token, minlength=n_vocab)
    idf = np.zeros(n_vocab, dtype=dtype)
    seen = df > 0
    idf[seen] = np.log(1 + (n_docs - df[seen] + 0.5) / (df[seen] + 0.5))
    avg = lengths.mean() if n_docs else 0.0
    tf = tf.astype(np.float64)
    tfc = tf / (k1 * ((1 - b) + b * lengths[row] / avg) + tf)
    indptr = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    return {"data": (idf[token] * tfc).astype(dtype), "indices": row.astype(int_dtype), "indptr": indptr, "num_docs": n_docs}


def build_bm25(docs: FlatDocs, vocabulary: Vocabulary):
    """A bm25s index over documents given as token ids (Lucene's BM25, k1=1.5, b=0.75); None for no documents."""
    # bm25s sets its own logger to DEBUG on import: its "Building index" lines would reach every console.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    if not len(docs.lengths):
        return None
    index = FlatBM25(csc_backend="numpy")  # numpy, not scipy: one dependency fewer, same arrays
    vocab = dict(vocabulary.ids)
    vocab.setdefault("", len(vocab))  # bm25s wants an empty token; it never occurs in a query
    index.index_flat(docs, vocab)
    return index
