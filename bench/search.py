"""Search speed: ms per top-10 query at 10k/100k/1M stored 256-d vectors, against LlamaIndex's in-memory
VectorStoreIndex over the same vectors (ratios from the same run); memory at 1M; `paperlake query` as a
process (one-shot, and --queries-file); bm25s against DuckDB's fts extension.

    python -m bench.search [--sizes 10000 100000 1000000]

Synthetic lakes: unit vectors, texts of random words; per parent 17 children and 6 summary/question
nodes, as a real paper has them. Written through the lake's own commit path, searched by `Searcher`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.search_hnsw import EF_SEARCH, hnsw_against_exact
from bench.search_lake import DIM, Fixed, rebuild_after_changes, synthetic_lake
from paperlake.settings import Settings
from storage.search import Searcher

OUT = Path(__file__).resolve().parent / "out" / "search"
PAPERLAKE = str(Path(sys.executable).with_name("paperlake"))
K = 10


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm: first touches of the memory map, lazy loads
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def llamaindex_ms(vectors: np.ndarray, queries: np.ndarray, repeat: int) -> float:
    """LlamaIndex's in-memory VectorStoreIndex over the same vectors, queried with ready embeddings."""
    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.schema import QueryBundle, TextNode

    nodes = [TextNode(id_=str(i), text="x", embedding=vectors[i].tolist()) for i in range(len(vectors))]
    index = VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=DIM))
    retriever = index.as_retriever(similarity_top_k=K)
    it = iter(range(10**9))
    return median_ms(lambda: retriever.retrieve(QueryBundle("q", embedding=queries[next(it) % len(queries)].tolist())), repeat)


def bench_size(n: int, with_llamaindex: bool, with_hnsw: bool = False) -> dict[str, float]:
    data_dir = OUT / f"lake-{n}"
    made = synthetic_lake(data_dir, n)
    shutil.rmtree(data_dir / "index", ignore_errors=True)  # the lake is reused between runs, the build timed each time
    rng = np.random.default_rng(7)
    queries = rng.standard_normal((64, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    embedder = Fixed(queries)
    started = time.perf_counter()
    searcher = Searcher(Settings(data_dir=data_dir), embedder=embedder)
    row = {"vectors": float(n), "lake_write_s": made, "index_build_s": time.perf_counter() - started}
    for strategy in ("baseline", "chunks", "hybrid"):
        row[f"{strategy}_ms"] = median_ms(lambda s=strategy: searcher.search(embedder.next_text(), s, K), 15)
    row["rss_mb"] = rss_mb()
    index = searcher._fresh_index()
    in_ram = np.array(index.vectors[: index.meta.n_parents + index.meta.n_children])  # what `chunks` searches
    row["searched"] = len(in_ram)
    row["floor_ms"] = median_ms(lambda: np.argpartition(-(in_ram @ queries[0]), K)[:K], 15)  # numpy brute force, same run
    if with_llamaindex:
        row["llamaindex_ms"] = llamaindex_ms(in_ram, queries, 5)
    if with_hnsw:
        row["hnsw"] = hnsw_against_exact(in_ram, queries[:32])
    in_ram = index = None  # free the 1M copy before the rebuilds
    changes = rebuild_after_changes(searcher, data_dir)
    row |= {"rebuild_added_s": changes["added_s"], "rebuild_removed_s": changes["removed_s"], "reused": changes["reused"],
            "reused_vectors": changes["reused_vectors"]}  # fmt: skip
    searcher.close()
    return row


def process_s(command: list[str], env: dict[str, str] | None = None, repeat: int = 5) -> float:
    """Median wall seconds of a process, start-up included."""
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def process_timings(n: int) -> dict[str, float]:
    """Wall time of `paperlake query` processes over the lake of `n` vectors (its index already built)."""
    env = {**os.environ, "PAPERLAKE_DATA_DIR": str(OUT / f"lake-{n}")}
    one_shot = process_s([PAPERLAKE, "query", "w1 w10 w20", "-k", str(K), "--json"], env)
    file = OUT / "queries.txt"
    file.write_text("".join(f"w{i} w{3 * i + 1} w{7 * i + 2}\n" for i in range(100)), encoding="utf-8")
    started = time.perf_counter()
    subprocess.run([PAPERLAKE, "query", "--queries-file", str(file), "-k", str(K), "--json"], env=env, check=True, capture_output=True)
    return {"one_shot_s": one_shot, "queries_file_qps": 100 / (time.perf_counter() - started)}


def bm25_libraries(n_docs: int) -> dict[str, float]:
    """Build and query time of bm25s (as the index uses it) and DuckDB's fts over the same texts."""
    from bench.search_lake import random_texts
    from storage.duck import connect
    from storage.search_bm25 import build_bm25
    from storage.search_text import Vocabulary, bm25_scores

    texts = random_texts(np.random.default_rng(3), n_docs)
    started = time.perf_counter()
    vocab = Vocabulary()
    index = build_bm25(vocab.encode_flat(texts), vocab)
    out = {"bm25s_build_s": time.perf_counter() - started}
    out["bm25s_query_ms"] = median_ms(lambda: np.argpartition(-bm25_scores(index, vocab.lookup("w1 w22 w333")), K)[:K], 15)
    try:
        conn = connect(("fts",))
    except Exception as exc:  # the fts wheel is a bench-only install (make bench)
        print(f"  DuckDB fts unavailable: {exc}")
        return out
    conn.register("t", pa.table({"id": np.arange(n_docs), "body": texts}))
    conn.execute("CREATE TABLE docs AS SELECT * FROM t")
    started = time.perf_counter()
    conn.execute("PRAGMA create_fts_index('docs', 'id', 'body', stemmer = 'english', stopwords = 'english')")
    out["fts_build_s"] = time.perf_counter() - started
    sql = f"SELECT id FROM (SELECT id, fts_main_docs.match_bm25(id, 'w1 w22 w333') AS s FROM docs) WHERE s IS NOT NULL ORDER BY s DESC LIMIT {K}"
    out["fts_query_ms"] = median_ms(lambda: conn.execute(sql).fetchall(), 5)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--llamaindex-max", type=int, default=100_000, help="largest size LlamaIndex is run at")
    # DuckDB vss builds its HNSW graph at about 1,000 vectors/s here: 1M would take the better part of an hour.
    parser.add_argument("--hnsw-max", type=int, default=100_000, help="largest size DuckDB's HNSW index is built at")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"machine now: `python -c 'import numpy'` {process_s([sys.executable, '-c', 'import numpy']):.2f} s wall (load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); chunks = parents + children, the largest dense search")  # fmt: skip
    print(f"{'vectors':>9} {'write s':>8} {'build s':>8} {'baseline':>9} {'chunks':>8} {'np floor':>8} {'hybrid':>8} "
          f"{'llamaidx':>9} {'x faster':>9} {'RSS MB':>8}")  # fmt: skip
    for n in args.sizes:
        r = bench_size(n, n <= args.llamaindex_max, n <= args.hnsw_max)
        li = r.get("llamaindex_ms")
        ratio = f"{li / r['chunks_ms']:8.0f}x" if li else "   n/a"
        print(f"{n:>9} {r['lake_write_s']:8.1f} {r['index_build_s']:8.1f} {r['baseline_ms']:7.1f}ms {r['chunks_ms']:6.1f}ms "
              f"{r['floor_ms']:6.1f}ms "
              f"{r['hybrid_ms']:6.1f}ms {(f'{li:7.0f}ms' if li else '     n/a'):>9} {ratio:>9} {r['rss_mb']:8.0f}", flush=True)  # fmt: skip
        print(f"{'':>9} index up to date again after one new paper {r['rebuild_added_s']:.1f} s ({r['reused']:,.0f} passages' "
              f"tokens and {r['reused_vectors']:,.0f} vectors taken from the build before), after deleting it "
              f"{r['rebuild_removed_s']:.1f} s; "
              f"a build from nothing {r['index_build_s']:.1f} s", flush=True)  # fmt: skip
        if r.get("hnsw"):
            h = r["hnsw"]
            print(f"{'':>9} DuckDB vss HNSW over the same {r['searched']:,} vectors: built in {h['build_s']:.1f} s; "
                  + ", ".join(f"{h[f'ms_{ef}']:.1f} ms at recall@10 {h[f'recall_{ef}']:.2f} (ef_search {ef})" for ef in EF_SEARCH)
                  + f"; exact numpy {h['exact_ms']:.1f} ms at recall 1", flush=True)  # fmt: skip
    process_n = 100_000 if 100_000 in args.sizes else args.sizes[0]
    p = process_timings(process_n)
    print(f"paperlake query at {process_n} vectors: one-shot {p['one_shot_s']:.2f} s wall (median of 5, process start "
          f"included); --queries-file {p['queries_file_qps']:.1f} queries/s on 100 queries (hybrid, k={K})")  # fmt: skip
    b = bm25_libraries(process_n)
    print("BM25 over", process_n, "texts: " + ", ".join(f"{k} {v:.2f}" for k, v in b.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
