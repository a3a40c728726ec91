"""Exact metric values on a tiny hand-made dataset whose right answers are worked out by hand below."""

from __future__ import annotations

import random

import pytest

from paperlake.metrics import aggregate, judge
from paperlake.relevance import Passages, Reference, RelevanceIndex, context_recall, word_tokens

PARENTS = {
    "p1": "Solana proof of history clock",
    "p2": "Bitcoin: proof-of-work mining",
    "p3": "Ethereum smart contracts, gas fees",
    "p4": "Solana proof-of-history orders transactions",
}
# question -> (reference contexts, ranking returned by a strategy). A parent is relevant when it holds at least
# half of a reference's DISTINCT word tokens (a set; order and repeats do not count).
QUESTIONS = {
    # ref {solana, proof, of, history, clock} (5). p1 holds 5/5; p4 {solana, proof, of, history} 4/5;
    # p2 {proof, of} 2/5, under half. R = 2.
    "q1": (["Solana proof of history clock"], ["p4", "p2", "p1"]),
    # ref {smart, contracts, gas, fees} (4). Only p3 (4/4). R = 1.
    "q2": (["smart contracts gas fees"], ["p1", "p3", "p2"]),
    # ref {proof, of, work, difficulty, adjustment, period} (6). p2 holds {proof, of, work}: 3/6, exactly half counts;
    # p1 and p4 hold {proof, of}: 2/6. R = 1, never retrieved.
    "q3": (["proof of work difficulty adjustment period"], ["p1", "p3", "p4"]),
    # nothing in the lake: R = 0, a miss for every metric.
    "q4": (["zebra unicorn rainbow"], ["p3", "p1", "p2"]),
}


def _references(contexts: list[str]) -> list[Reference]:
    return [Reference(c) for c in contexts]


def _judged():
    passages = Passages(PARENTS)
    index = RelevanceIndex(passages, [r for contexts, _ in QUESTIONS.values() for r in _references(contexts)])
    out = {}
    for qid, (contexts, ranked) in QUESTIONS.items():
        references = _references(contexts)
        out[qid] = judge(ranked, index.relevant_to(references), references, passages)
    return out


def test_relevance_by_hand():
    passages = Passages(PARENTS)
    index = RelevanceIndex(passages, [r for contexts, _ in QUESTIONS.values() for r in _references(contexts)])
    assert {qid: sorted(index.relevant_to(_references(c))) for qid, (c, _) in QUESTIONS.items()} == {
        "q1": ["p1", "p4"], "q2": ["p3"], "q3": ["p2"], "q4": [],
    }  # fmt: skip


def test_per_question_by_hand():
    j = _judged()
    assert [j[q].first_relevant_rank for q in QUESTIONS] == [1, 2, None, None]
    assert [j[q].n_relevant for q in QUESTIONS] == [2, 1, 1, 0]
    # q1: top1 p4 contains solana proof of history = 4/5; p2 adds nothing; p1 adds clock -> 5/5.
    assert j["q1"].recall == pytest.approx((0.8, 0.8, 1.0))
    # q1 nDCG@2: DCG = 1 (p4 at rank 1, p2 not relevant); IDCG = 1 + 1/log2(3) = 1.63093 (R = 2) -> 0.61315.
    assert j["q1"].ndcg(2) == pytest.approx(1 / 1.6309298, abs=1e-6)
    # q1 nDCG@3: DCG = 1 + 1/log2(4) = 1.5; IDCG still 1.63093 -> 0.91972.
    assert j["q1"].ndcg(3) == pytest.approx(1.5 / 1.6309298, abs=1e-6)
    # q2 nDCG@2: p3 at rank 2: DCG = 1/log2(3) = 0.63093; IDCG = 1 (R = 1).
    assert j["q2"].ndcg(2) == pytest.approx(0.6309298, abs=1e-6)
    assert j["q4"].ndcg(3) == 0.0  # R = 0 scores 0, and stays in the mean


def test_aggregate_by_hand():
    rows = {r.k: r for r in aggregate(list(_judged().values()), [3, 1, 2])}
    assert sorted(rows) == [1, 2, 3] and {r.n_questions for r in rows.values()} == {4}
    # hit: only q1 at k=1; q1 and q2 from k=2 on.
    assert [rows[k].hit_rate for k in (1, 2, 3)] == [0.25, 0.5, 0.5]
    # MRR: (1 + 0 + 0 + 0) / 4 at k=1; (1 + 1/2) / 4 from k=2 on.
    assert [rows[k].mrr for k in (1, 2, 3)] == [0.25, 0.375, 0.375]
    # nDCG: k=1 (1 + 0 + 0 + 0) / 4; k=2 (0.61315 + 0.63093) / 4; k=3 (0.91972 + 0.63093) / 4.
    assert [rows[k].ndcg for k in (1, 2, 3)] == pytest.approx([0.25, 0.311020, 0.387662], abs=1e-6)
    # context recall: q1 0.8, 0.8, 1.0; q2 0, 1, 1; q3 1/3 at every k (p1 holds {proof, of} of its 6 tokens, p3 and
    # p4 add none); q4 0 -> (0.8 + 1/3) / 4, (1.8 + 1/3) / 4, (2.0 + 1/3) / 4.
    assert [rows[k].context_recall for k in (1, 2, 3)] == pytest.approx([0.283333, 0.533333, 0.583333], abs=1e-6)


def test_shorter_ranking_than_k_counts_what_was_found():
    passages, references = Passages(PARENTS), _references(["smart contracts gas fees"])
    one = judge(["p3"], frozenset({"p3"}), references, passages)
    assert (one.hit(10), one.reciprocal_rank(10), one.ndcg(10), one.context_recall(10)) == (1.0, 1.0, 1.0, 1.0)
    empty = judge([], frozenset({"p3"}), references, passages)
    assert (empty.hit(5), empty.ndcg(5), empty.context_recall(5)) == (0.0, 0.0, 0.0)


def test_distinct_tokens_repeats_count_once():
    assert word_tokens("Proof-of-History, TPS=50_000 (Solana's)") == ["proof", "of", "history", "tps", "50", "000", "solana", "s"]
    passages = Passages({"the": "The cat. The end.", "pair": "solana's history", "scattered": "history of proof; proof of work"})
    # ref tokens: 6 words but 4 distinct {the, solana, proof, history}. "the" passage: 1/4 -> not relevant
    # (counted with repeats it would hold 3 of 6 words: "relevant" through a function word).
    reference = Reference("The the the Solana proof history")
    assert len(reference) == 4
    assert not reference.half_in(passages.get("the"))
    assert reference.half_in(passages.get("pair"))  # {solana, history}: 2/4, exactly half
    assert reference.half_in(passages.get("scattered"))  # {proof, history}: order does not matter
    # recall: {the, solana, proof, history} vs the union of the passages read together.
    assert context_recall([reference], passages, ["the"]) == 0.25
    assert context_recall([reference], passages, ["the", "pair"]) == 0.75
    assert context_recall([reference], passages, ["the", "pair", "scattered"]) == 1.0
    # two references count their tokens together, once: {gas, fees} | {gas, price} = 3 tokens, of which "g" holds 1.
    assert context_recall([Reference("gas fees"), Reference("gas price")], Passages({"g": "gas"}), ["g"]) == pytest.approx(1 / 3)
    assert not Reference("").half_in(passages.get("the"))
    assert context_recall([Reference("")], passages, ["the"]) == 0.0


def test_index_finds_exactly_what_testing_every_pair_finds():
    rng = random.Random(7)
    words = [f"w{i}" for i in range(30)]
    texts = {f"p{i}": " ".join(rng.choices(words, k=rng.randint(2, 40))) for i in range(150)}
    contexts = [" ".join(rng.choices(words, k=rng.randint(0, 12))) for _ in range(60)]
    passages = Passages(texts)
    index = RelevanceIndex(passages, [Reference(c) for c in contexts])
    for context in contexts:
        reference = Reference(context)
        brute = {pid for pid in texts if reference.tokens and 2 * len(set(word_tokens(context)) & set(texts[pid].split())) >= len(reference)}
        assert index.relevant_to([reference]) == brute
    found = [len(index.relevant_to([Reference(c)])) for c in contexts]
    assert 0 in found and 0 < max(found) < len(texts)  # the check is not vacuous
