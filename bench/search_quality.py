"""Retrieval quality of each strategy on a LlamaIndex rag_dataset.json (the dev set), and the BM25 levers.

    python -m bench.search_quality [--dataset PATH] [--levers]

Ingests the dataset's PDF (beside the JSON, same stem) into a scratch lake under bench/out/ once, then
prints hit@5 and MRR@5 per strategy. Relevance, as issue 7 fixes it: a retrieved parent is relevant when
it holds at least half of the word tokens of one reference context. This is a developer's measuring tool;
the nightly evaluation (metrics, tables, trend) is the `evaluate-retrieval` flow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "corpus" / "local" / "BlockchainSolana.rag_dataset.json"
_WORD = re.compile(r"\w+")
K = 5


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def is_relevant(parent_text: str, references: Sequence[str]) -> bool:
    have = set(words(parent_text))
    return any(ref and sum(w in have for w in ref) * 2 >= len(ref) for ref in (words(r) for r in references))


def load_dataset(path: Path) -> list[tuple[str, list[str]]]:
    examples = json.loads(path.read_text(encoding="utf-8"))["examples"]
    return [(e["query"], e["reference_contexts"]) for e in examples]


def score(ranked_texts: list[list[str]], dataset: list[tuple[str, list[str]]]) -> tuple[float, float]:
    """(hit@K, MRR@K) over the dataset."""
    hits, rr = 0, 0.0
    for texts, (_, refs) in zip(ranked_texts, dataset, strict=True):
        first = next((i for i, t in enumerate(texts[:K], 1) if is_relevant(t, refs)), None)
        hits += first is not None
        rr += 1 / first if first else 0.0
    return hits / len(dataset), rr / len(dataset)


def ensure_lake(dataset: Path) -> Path:
    """A scratch lake with the dataset's PDF ingested and extracted (offline defaults), made once."""
    data_dir = ROOT / "bench" / "out" / f"quality-{dataset.stem}"
    if not (data_dir / "lake.sqlite").exists():
        pdf = dataset.with_name(dataset.name.replace(".rag_dataset.json", ".pdf"))
        env = {**os.environ, "PAPERLAKE_DATA_DIR": str(data_dir)}
        subprocess.run([str(Path(sys.executable).with_name("paperlake")), "ingest", "--extract", str(pdf)], env=env, check=True)
    return data_dir


def strategy_table(data_dir: Path, dataset: list[tuple[str, list[str]]]) -> dict[str, tuple[float, float]]:
    from paperlake.settings import Settings
    from storage.search import STRATEGIES, Searcher

    queries = [q for q, _ in dataset]
    with Searcher(Settings(data_dir=data_dir)) as searcher:
        return {s: score([[r.text for r in rs] for rs in searcher.search_many(queries, s, K)], dataset) for s in STRATEGIES}


def lever_table(data_dir: Path, dataset: list[tuple[str, list[str]]]) -> dict[str, tuple[float, float]]:
    """BM25 variants built in memory from the same lake: which choices move the numbers, and how."""
    from storage.lakehouse import Lakehouse

    nodes = Lakehouse(data_dir).query("SELECT node_id, kind, parent_id, text FROM nodes WHERE kind IN ('parent', 'child') "
                                      "ORDER BY kind DESC, chunk_size, position").to_pylist()  # fmt: skip
    parents = [n for n in nodes if n["kind"] == "parent"]
    children = [n for n in nodes if n["kind"] == "child"]
    row = {n["node_id"]: i for i, n in enumerate(parents)}
    child_parent = np.array([row[c["parent_id"]] for c in children])
    queries = [q for q, _ in dataset]
    out = {}
    for name, tokenizer in _tokenizers().items():
        p_scores = _bm25([tokenizer(n["text"]) for n in parents], [tokenizer(q) for q in queries])
        c_scores = _bm25([tokenizer(n["text"]) for n in children], [tokenizer(q) for q in queries])
        for level, scores in (("parents", p_scores), ("children", _collapse_max(c_scores, child_parent, len(parents)))):
            out[f"bm25 {level}, {name}"] = score([[parents[i]["text"] for i in np.argsort(-s)[:K]] for s in scores], dataset)
        sums = _collapse_sum(c_scores, child_parent, len(parents))
        out[f"bm25 children summed, {name}"] = score([[parents[i]["text"] for i in np.argsort(-s)[:K]] for s in sums], dataset)
    out |= _fts_table(parents, children, child_parent, queries, dataset)
    return out


def _fts_table(parents: list[dict], children: list[dict], child_parent: np.ndarray, queries: list[str],
               dataset: list[tuple[str, list[str]]]) -> dict[str, tuple[float, float]]:  # fmt: skip
    """DuckDB's fts (Porter stemmer, its English stopwords) over the same texts, when the bench installed it."""
    import pyarrow as pa

    from storage.duck import connect

    try:
        conn = connect(("fts",))
    except Exception:
        return {}
    out = {}
    for level, docs, owner in (("parents", parents, np.arange(len(parents))), ("children", children, child_parent)):
        conn.register("t", pa.table({"id": np.arange(len(docs)), "body": [d["text"] for d in docs]}))
        conn.execute(f"CREATE OR REPLACE TABLE {level} AS SELECT * FROM t")
        conn.execute(f"PRAGMA create_fts_index('{level}', 'id', 'body', stemmer = 'porter', stopwords = 'english', overwrite = 1)")
        ranked = []
        for q in queries:
            ids = [r[0] for r in conn.execute(f"SELECT id FROM (SELECT id, fts_main_{level}.match_bm25(id, ?) AS s FROM {level}) "
                                              "WHERE s IS NOT NULL ORDER BY s DESC", [q]).fetchall()]  # fmt: skip
            seen = list(dict.fromkeys(int(owner[i]) for i in ids))[:K]
            ranked.append([parents[i]["text"] for i in seen])
        out[f"duckdb fts {level} (porter, its stopwords)"] = score(ranked, dataset)
    return out


def _tokenizers() -> dict[str, Callable[[str], list[str]]]:
    import Stemmer

    from storage.search_text import stopwords, tokenize

    stem = Stemmer.Stemmer("english").stemWords
    minimal = {"the", "a", "an", "of", "and", "or", "to", "in", "is", "for"}
    return {
        "stem + NLTK stop + word pairs (used)": tokenize,
        "stem + NLTK stopwords": lambda t: stem([w for w in words(t) if w not in stopwords()]),
        "stem + minimal stopwords": lambda t: stem([w for w in words(t) if w not in minimal]),
        "no stem + NLTK stopwords": lambda t: [w for w in words(t) if w not in stopwords()],
        "no stem, no stopwords": words,
    }


def _bm25(docs: list[list[str]], queries: list[list[str]]) -> np.ndarray:
    import bm25s

    index = bm25s.BM25(csc_backend="numpy")
    index.index(docs, show_progress=False)
    return np.stack([index.get_scores(q) if any(t in index.vocab_dict for t in q) else np.zeros(len(docs)) for q in queries])


def _collapse_max(scores: np.ndarray, parent: np.ndarray, n: int) -> np.ndarray:
    out = np.full((scores.shape[0], n), -np.inf)
    for j in range(scores.shape[0]):
        np.maximum.at(out[j], parent, scores[j])
    return out


def _collapse_sum(scores: np.ndarray, parent: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((scores.shape[0], n))
    for j in range(scores.shape[0]):
        np.add.at(out[j], parent, scores[j])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--levers", action="store_true", help="also the BM25 variants")
    parser.add_argument("--data-dir", type=Path, help="a lake holding the dataset's PDF already (default: made once)")
    args = parser.parse_args(argv)
    if not args.dataset.is_file():
        print(f"skipped: no dataset at {args.dataset}")
        return 0
    dataset, data_dir = load_dataset(args.dataset), args.data_dir or ensure_lake(args.dataset)
    rows = strategy_table(data_dir, dataset)
    if args.levers:
        rows |= lever_table(data_dir, dataset)
    print(f"{'strategy (wordllama, ' + str(len(dataset)) + ' questions)':<56} hit@{K}  MRR@{K}")
    for name, (hit, mrr) in rows.items():
        print(f"{name:<56} {hit:.3f}  {mrr:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
