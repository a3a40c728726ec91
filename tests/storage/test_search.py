"""Search over a real lake written by `Lake.write_paper` with hand-made vectors, so rankings are exact.

Queries are embedded by a hand-made embedder handed to `Searcher` (its constructor seam): each query
text names the unit vector it stands for.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from paperlake.settings import Settings
from storage.lake import Lake
from storage.lakehouse import Replace
from storage.search import STRATEGIES, Searcher, SearchError
from storage.search_index import index_root
from storage.search_rank import Ranking, fuse
from storage.tables import TableSpec
from tests.helpers import node, paper_row

DIM = 8


def unit(*weights: float) -> np.ndarray:
    vector = np.zeros(DIM, np.float32)
    vector[: len(weights)] = weights
    return vector / np.linalg.norm(vector)


def axis(i: int) -> np.ndarray:
    vector = np.zeros(DIM, np.float32)
    vector[i] = 1
    return vector


class AxisEmbedder:
    """Query "axis 3" -> the unit vector along axis 3; anything else -> along axis 7."""

    model = cache_scope = "wordllama"
    request_size = 64

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.embed_queries(texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([axis(int(t.split()[1])) if t.startswith("axis ") else axis(7) for t in texts])


def write(lake: Lake, paper_id: str, nodes_and_vectors: list, model: str = "wordllama", title: str = "T") -> None:
    nodes = [n for n, _ in nodes_and_vectors]
    row = {**paper_row(paper_id), "title": title}
    lake.write_paper(row, nodes, np.stack([v for _, v in nodes_and_vectors]), model)


def derived(parent, kind: str, position: int, text: str):
    """A summary or question node of `parent` (as extraction makes them)."""
    made = node(parent.paper_id, kind, position, text, parent.node_id)
    return type(made)(**{**made.__dict__, "chunk_size": None})


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return two_papers(tmp_path / "data")


def two_papers(data_dir: Path) -> Lake:
    """Paper A: parents a0 (axis 0) and a1 (axis 1); a1's children on axis 2 (0.9) and axis 2 (1.0); a0's child,
    holding its rare word 'zyxwvut' as real children hold their parent's words, on axis 6; a summary of a0 on axis 3.
    Paper B: parent b0 on axis 4 (a little 7)."""
    lake = Lake(data_dir)
    a0 = node("2301.00001", "parent", 0, "Parent zero talks about zyxwvut consensus.")
    a1 = node("2301.00001", "parent", 1, "Parent one talks about proof of history.")
    c1 = node("2301.00001", "child", 0, "proof of", a1.node_id)
    c2 = node("2301.00001", "child", 1, "of history", a1.node_id)
    c0 = node("2301.00001", "child", 2, "zyxwvut consensus", a0.node_id)
    s0 = derived(a0, "summary", 0, "A summary of parent zero.")
    write(lake, "2301.00001", [(a0, axis(0)), (a1, axis(1)), (c1, unit(0, 0.44, 0.9)), (c2, axis(2)), (c0, axis(6)), (s0, axis(3))],
          title="Paper A")  # fmt: skip
    b0 = node("2301.00002", "parent", 0, "Paper B's only passage.")
    write(lake, "2301.00002", [(b0, unit(0, 0, 0, 0, 1, 0, 0, 0.3))], title="Paper B")
    return lake


def searcher(lake: Lake) -> Searcher:
    return Searcher(Settings(data_dir=lake.data_dir), embedder=AxisEmbedder())


def test_baseline_ranks_parents_by_cosine(lake: Lake) -> None:
    with searcher(lake) as s:
        results = s.search("axis 1", "baseline", k=5)
    assert [r.text[:10] for r in results][:1] == ["Parent one"]
    assert results[0].score == pytest.approx(1.0) and results[0].matched_kind == "parent"
    assert len(results) == 3 and [r.rank for r in results] == [1, 2, 3]
    assert results[0].title == "Paper A" and results[0].paper_id == "2301.00001" and results[0].page_start == 1


def test_chunks_resolve_children_to_one_parent_with_the_best_score(lake: Lake) -> None:
    with searcher(lake) as s:
        results = s.search("axis 2", "chunks", k=5)
        baseline = s.search("axis 2", "baseline", k=5)
    top = results[0]
    assert top.text.startswith("Parent one") and top.score == pytest.approx(1.0)  # c2, not c1's 0.9
    assert top.matched_kind == "child" and ":child:" in top.matched_node_id and top.matched_node_id.endswith(
        node("2301.00001", "child", 1, "of history").node_id[-12:])
    assert [r.node_id for r in results].count(top.node_id) == 1  # two matching children, one parent
    assert baseline[0].score == pytest.approx(0.0, abs=1e-6)  # parents alone know nothing of axis 2


def test_metadata_searches_summaries_and_questions(lake: Lake) -> None:
    with searcher(lake) as s:
        meta = s.search("axis 3", "metadata", k=1)[0]
        chunks = s.search("axis 3", "chunks", k=1)[0]
    assert meta.text.startswith("Parent zero") and meta.matched_kind == "summary" and meta.score == pytest.approx(1.0)
    assert chunks.score == pytest.approx(0.0, abs=1e-6)


def test_hybrid_finds_an_exact_rare_term_the_vectors_miss(lake: Lake) -> None:
    with searcher(lake) as s:
        assert s.search("zyxwvut", "baseline", k=1)[0].paper_id == "2301.00002"  # axis 7: no parent near it
        hybrid = s.search("zyxwvut", "hybrid", k=2)
    assert hybrid[0].text.startswith("Parent zero") and hybrid[0].matched_kind in ("parent", "child")
    # a0: 1 from each BM25 list (their only entry), 0 from the dense list (its last); b0: 1 from the dense list.
    assert [r.score for r in hybrid] == pytest.approx([2.0, 1.0])
    with searcher(lake) as s:
        rrf = s.search("zyxwvut", "hybrid", k=2, fusion="rrf")
    # Reciprocal rank fusion: a0 first in both BM25 lists (2/61) plus its dense rank; b0 1/61 from the dense list.
    assert rrf[0].node_id == hybrid[0].node_id and 2 / 61 < rrf[0].score < 3 / 61 and rrf[1].score == pytest.approx(1 / 61, abs=1e-6)


def test_fusion_scales_each_list_so_a_confident_list_outweighs_a_flat_one() -> None:
    def ranking(parents: list[int], scores: list[float]) -> Ranking:
        return Ranking(np.asarray(parents, np.int32), np.asarray(scores, np.float32), np.asarray(parents, np.int32) + 100)

    dense = ranking([1, 2, 3, 4, 0], [0.9, 0.8, 0.7, 0.6, 0.5])  # scaled: p1 1, p2 .75, p3 .5, p4 .25, p0 0
    bm25_parents = ranking([0, 1, 2], [30.0, 10.0, 5.0])  # p0 1, p1 .2, p2 0
    bm25_children = ranking([0, 1], [20.0, 5.0])  # p0 1, p1 0
    fused = fuse([dense, bm25_parents, bm25_children], k=4)
    # p0 2.0, p1 1.2, p2 .75, p3 .5. Reciprocal rank fusion (k=60) would put p1 first: 1/61 + 2/62 > 2/61 + 1/65.
    assert fused.parents.tolist() == [0, 1, 2, 3]
    assert fused.scores.tolist() == pytest.approx([2.0, 1.2, 0.75, 0.5])
    assert fused.matched.tolist() == [100, 101, 102, 103]  # from the list that ranks each parent best
    assert fuse([ranking([5], [0.3])], k=3).scores.tolist() == [1.0]  # one entry: the list's best

    rrf = fuse([dense, bm25_parents, bm25_children], k=4, method="rrf")  # the same lists by rank alone
    assert rrf.parents.tolist() == [1, 0, 2, 3]
    assert rrf.scores.tolist() == pytest.approx([1 / 61 + 2 / 62, 1 / 65 + 2 / 61, 1 / 62 + 1 / 63, 1 / 63])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_paper_filter_restricts_every_strategy(lake: Lake, strategy: str) -> None:
    with searcher(lake) as s:
        assert s.search("axis 4", strategy, k=1)[0].paper_id == "2301.00002"
        only_a = s.search("axis 4", strategy, k=5, paper_ids=["2301.00001"])
    assert only_a and {r.paper_id for r in only_a} == {"2301.00001"}


def test_one_line_errors(lake: Lake, tmp_path: Path) -> None:
    with searcher(lake) as s:
        for query, kwargs, words in [(" ", {}, "empty query"), ("x", {"paper_ids": ["2399.99999"]}, "2399.99999"),
                                     ("x", {"strategy": "magic"}, "magic"), ("x", {"k": 0}, "k must"),
                                     ("x", {"fusion": "magic"}, "unknown fusion 'magic'")]:  # fmt: skip
            with pytest.raises(SearchError, match=words) as caught:
                s.search(query, **kwargs)
            assert "\n" not in str(caught.value)


def test_vectors_of_another_model_are_refused_naming_both(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    write(lake, "2301.00001", [(node("2301.00001", "parent", 0, "text"), axis(0))], model="text-embedding-3-small")
    with pytest.raises(SearchError, match="text-embedding-3-small.*wordllama"):
        searcher(lake).search("axis 0")


def test_a_lake_without_passages_is_one_clear_error(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    lake.write_failure(paper_row("2301.00009", status="failed", error="not_found"))
    with pytest.raises(SearchError, match="no passages"):
        searcher(lake).search("axis 0")


def test_a_changed_lake_is_searched_at_once_and_other_tables_do_not_rebuild(lake: Lake) -> None:
    s = searcher(lake)
    assert s.search("axis 5", "baseline", k=1)[0].score == pytest.approx(0.0, abs=1e-6)
    built_at = s.snapshot_id
    other = TableSpec("eval_runs", pa.schema([("run_id", pa.string())]), key=("run_id",), sorted_by=("run_id",))
    lake.house.commit([Replace(other, {"run_id": "r1"}, pa.table({"run_id": ["r1"]}))])
    assert s.snapshot_id == built_at  # an evaluation's commit is not a change of what is searched
    write(lake, "2301.00003", [(node("2301.00003", "parent", 0, "A new paper arrives."), axis(5))], title="Paper C")
    found = s.search("axis 5", "baseline", k=1)[0]  # the same searcher, no reopening
    assert found.paper_id == "2301.00003" and found.title == "Paper C" and s.snapshot_id > built_at
    assert searcher(lake).search("axis 5", "chunks", k=1)[0].paper_id == "2301.00003"  # and a new one


def test_a_searcher_on_the_writers_handle_sees_its_commits_and_leaves_it_open(lake: Lake) -> None:
    """The end of an ingest run refreshes the index through the run's own lake handle (no second attach)."""
    attached = lake.house._state.conn  # noqa: SLF001 - the attachment itself is what must survive
    with Searcher(Settings(data_dir=lake.data_dir), embedder=AxisEmbedder(), house=lake.house) as s:
        write(lake, "2301.00003", [(node("2301.00003", "parent", 0, "A new paper arrives."), axis(5))], title="Paper C")
        assert s.search("axis 5", "baseline", k=1)[0].paper_id == "2301.00003"
    assert lake.house._state.conn is attached  # noqa: SLF001 - not closed (and so not re-attached) by the searcher


@pytest.mark.parametrize("damage", ["delete_vectors", "garble_meta", "delete_build", "truncate_vectors"])
def test_a_damaged_index_is_rebuilt(lake: Lake, damage: str) -> None:
    searcher(lake).close()
    root = index_root(lake.data_dir, "wordllama")
    build = root / (root / "CURRENT").read_text()
    if damage == "delete_vectors":
        (build / "vectors.npy").unlink()
    elif damage == "garble_meta":
        (build / "meta.json").write_text("{not json")
    elif damage == "delete_build":
        shutil.rmtree(root)
    else:
        data = (build / "vectors.npy").read_bytes()
        (build / "vectors.npy").write_bytes(data[: len(data) // 2])
    assert searcher(lake).search("axis 1", "baseline", k=1)[0].text.startswith("Parent one")
    rebuilt = root / (root / "CURRENT").read_text()
    assert json.loads((rebuilt / "meta.json").read_text())["n_parents"] == 3


def test_search_many_matches_one_by_one(lake: Lake) -> None:
    with searcher(lake) as s:
        queries = [f"axis {i}" for i in range(6)]
        for strategy in STRATEGIES:
            batch = s.search_many(queries, strategy, k=2)
            assert batch == [s.search(q, strategy, k=2) for q in queries]


def test_two_processes_opening_at_once_build_one_index(lake: Lake) -> None:
    import os
    import subprocess
    import sys

    script = ("from paperlake.settings import Settings; from storage.search import Searcher; "
              "s = Searcher(Settings()); print(s.snapshot_id, s._fresh_index().folder.name)")  # fmt: skip
    env = {**os.environ, "PAPERLAKE_DATA_DIR": str(lake.data_dir)}
    runs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0].split() for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert outputs[0] == outputs[1]  # the second waited on the lock and opened the first one's build
    assert len(list(index_root(lake.data_dir, "wordllama").glob("build-*"))) == 1
