import bm25s
import numpy as np

from storage.search_bm25 import build_bm25
from storage.search_text import Vocabulary


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(300)]
    # Zipf-like word choice: frequent and rare words, repeats within a text, and some empty texts.
    return [" ".join(rng.choice(words, int(rng.integers(0, 60)), p=_zipf(len(words)))) for _ in range(n)]


def _zipf(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1)
    return p / p.sum()


def test_the_flat_build_equals_bm25s_own_build_value_for_value():
    texts = _texts(400, seed=5) + ["", "w1 w1 w1 w1"]
    vocab = Vocabulary()
    docs = vocab.encode_flat(texts)
    ours = build_bm25(docs, vocab)

    reference = bm25s.BM25(csc_backend="numpy")
    ids = dict(vocab.ids)
    ids.setdefault("", len(ids))
    reference.index((vocab.encode_many(texts), ids), show_progress=False, create_empty_token=False)

    assert ours.scores["num_docs"] == reference.scores["num_docs"] == len(texts)
    for key in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(ours.scores[key], reference.scores[key], err_msg=key)
        assert ours.scores[key].dtype == reference.scores[key].dtype, key
    for query in ("w0", "w3 w150", "w299 w7 w7", "w0_w1"):
        q = vocab.lookup(query)
        np.testing.assert_array_equal(ours.get_scores_from_ids(q), reference.get_scores_from_ids(q))


def test_no_documents_make_no_index():
    vocab = Vocabulary()
    assert build_bm25(vocab.encode_flat([]), vocab) is None
