from storage.search_text import Vocabulary, tokenize


def test_encode_many_numbers_tokens_in_first_seen_order_across_a_batch():
    texts = ["Proof of History orders events", "", "history PROOF: orders, orders"]
    vocab = Vocabulary()
    ids = vocab.encode_many(texts)
    tokens = vocab.tokens()
    assert [[tokens[i] for i in doc] for doc in ids] == [tokenize(t) for t in texts]
    assert ids[1] == [] and sorted(set(ids[0]) & set(ids[2])) == ids[0][:3]  # the shared words keep their ids
    assert len(tokens) == len(set(tokens)) == max(max(doc) for doc in ids if doc) + 1


def test_later_batches_extend_the_vocabulary_and_queries_only_look_up():
    vocab = Vocabulary()
    first = vocab.encode_many(["consensus algorithm"])[0]
    second = vocab.encode_many(["consensus latency"])[0]
    assert second[0] == first[0] and second[1] not in first
    size = len(vocab.tokens())
    assert vocab.lookup("consensus unknownword") == [first[0]]
    assert len(vocab.tokens()) == size  # a query never grows the vocabulary
    assert Vocabulary().encode_many([]) == []
