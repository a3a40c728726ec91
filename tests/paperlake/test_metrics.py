"""Exact metric values on a tiny hand-made dataset whose right answers are worked out by hand below."""

from __future__ import annotations

import random

import pytest

from paperlake.metrics import aggregate, judge
from paperlake.relevance import RelevanceIndex, bag, coverage, meets_rule, merged, word_tokens

PARENTS = {
    "p1": "Solana proof of history clock",
    "p2": "Bitcoin: proof-of-work mining",
    "p3": "Ethereum smart contracts, gas fees",
    "p4": "Solana proof-of-history orders transactions",
}
# question -> (reference contexts, ranking returned by a strategy)
QUESTIONS = {
    # ref tokens: solana proof of history clock (5). p1 5/5 and p4 4/5 relevant; p2 2/5 < half is not. R = 2.
    "q1": (["Solana proof of history clock"], ["p4", "p2", "p1"]),
    # ref: ethereum gas fees (3). Only p3 (3/3). R = 1.
    "q2": (["Ethereum gas fees"], ["p1", "p3", "p2"]),
    # ref: bitcoin mining difficulty adjustment (4). p2 holds bitcoin, mining: exactly half counts. R = 1, never retrieved.
    "q3": (["Bitcoin mining difficulty adjustment"], ["p1", "p3", "p4"]),
    # nothing in the lake: R = 0, a miss for every metric.
    "q4": (["zebra unicorn rainbow"], ["p3", "p1", "p2"]),
}


def _judged():
    index = RelevanceIndex(PARENTS)
    out = {}
    for qid, (contexts, ranked) in QUESTIONS.items():
        out[qid] = judge(ranked, index.relevant_to(contexts), index.bags, merged(bag(c) for c in contexts))
    return out


def test_relevance_by_hand():
    index = RelevanceIndex(PARENTS)
    assert {qid: sorted(index.relevant_to(c)) for qid, (c, _) in QUESTIONS.items()} == {
        "q1": ["p1", "p4"], "q2": ["p3"], "q3": ["p2"], "q4": [],
    }  # fmt: skip


def test_per_question_by_hand():
    j = _judged()
    assert [j[q].first_relevant_rank for q in QUESTIONS] == [1, 2, None, None]
    assert [j[q].n_relevant for q in QUESTIONS] == [2, 1, 1, 0]
    # q1: top1 p4 covers solana proof of history = 4/5; p2 adds nothing new; p1 adds clock -> 5/5.
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
    # context recall: q1 0.8, 0.8, 1.0; q2 0, 1, 1; q3 and q4 0 -> (0.8) / 4, (1.8) / 4, (2.0) / 4.
    assert [rows[k].context_recall for k in (1, 2, 3)] == pytest.approx([0.2, 0.45, 0.5])


def test_shorter_ranking_than_k_counts_what_was_found():
    index = RelevanceIndex(PARENTS)
    one = judge(["p3"], index.relevant_to(["Ethereum gas fees"]), index.bags, bag("Ethereum gas fees"))
    assert (one.hit(10), one.reciprocal_rank(10), one.ndcg(10), one.context_recall(10)) == (1.0, 1.0, 1.0, 1.0)
    empty = judge([], frozenset({"p3"}), index.bags, bag("Ethereum gas fees"))
    assert (empty.hit(5), empty.ndcg(5), empty.context_recall(5)) == (0.0, 0.0, 0.0)


def test_tokens_fold_case_split_punctuation_and_count_repeats():
    assert word_tokens("Proof-of-History, TPS=50_000 (Solana's)") == ["proof", "of", "history", "tps", "50", "000", "solana", "s"]
    reference = bag("of of of proof")
    assert coverage(reference, bag("proof of")) == 0.5  # min(3, 1) + min(1, 1) = 2 of 4
    assert meets_rule(reference, bag("proof of")) and not meets_rule(reference, bag("proof"))
    assert not meets_rule(bag(""), bag("anything"))


def test_index_finds_exactly_what_testing_every_parent_finds():
    rng = random.Random(7)
    words = [f"w{i}" for i in range(40)]
    parents = {f"p{i}": " ".join(rng.choices(words, k=rng.randint(5, 30))) for i in range(200)}
    index = RelevanceIndex(parents)
    for _ in range(50):
        context = " ".join(rng.choices(words, k=rng.randint(1, 25)))
        brute = {pid for pid, text in parents.items() if meets_rule(bag(context), bag(text))}
        assert index.relevant_to([context]) == brute
