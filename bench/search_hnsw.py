"""DuckDB's `vss` extension (an HNSW index) against the search path's exact brute force, same vectors.

The lake issue pins `vss` with DuckDB for use "where it beats the alternative on the benchmark". HNSW
answers a top-10 query without reading every vector, so it is faster per query at scale; it is also
approximate, and its index is built after every lake change. This measures all three against the exact
numpy top-10 over the same matrix: build seconds, ms per query, and recall@10 (the share of the exact
top 10 it returns). Synthetic unit vectors, as the rest of bench/search.py: random directions have no
clusters for the graph to exploit, the hard case for recall.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa

K = 10


EF_SEARCH = (64, 256)  # vss's default candidate list, and a wider one that buys recall with time


def hnsw_against_exact(vectors: np.ndarray, queries: np.ndarray) -> dict[str, float] | None:
    """{build_s, exact_ms, and per ef_search in EF_SEARCH: ms_<ef>, recall_<ef>} for an in-memory DuckDB
    table with an HNSW index (inner product) over `vectors`; None when the vss wheel (a bench-only
    install) is missing."""
    from storage.duck import connect

    try:
        conn = connect(("vss",))
    except Exception as exc:  # noqa: BLE001 - the vss wheel comes with `make bench` only
        print(f"  DuckDB vss unavailable: {exc}")
        return None
    conn.execute("SET enable_progress_bar = false")
    dim = vectors.shape[1]
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), dim)
    conn.register("incoming", pa.table({"id": np.arange(len(vectors), dtype=np.int32), "e": column}))
    conn.execute(f"CREATE TABLE v AS SELECT id, e::FLOAT[{dim}] AS e FROM incoming")
    conn.unregister("incoming")
    started = time.perf_counter()
    conn.execute("CREATE INDEX v_hnsw ON v USING HNSW (e) WITH (metric = 'ip')")
    build_s = time.perf_counter() - started

    def sql(query: np.ndarray) -> str:  # a constant vector: the index serves only constant queries
        literal = ", ".join(f"{x:.9g}" for x in query.tolist())
        return f"SELECT id FROM v ORDER BY array_negative_inner_product(e, [{literal}]::FLOAT[{dim}]) LIMIT {K}"

    plan = conn.execute("EXPLAIN " + sql(queries[0])).fetchall()
    if "HNSW_INDEX_SCAN" not in str(plan):
        raise RuntimeError("DuckDB did not use the HNSW index for the top-10 query")
    exact = [set(np.argpartition(-(vectors @ query), K)[:K].tolist()) for query in queries]
    out = {"build_s": build_s, "exact_ms": _median_ms([lambda q=q: np.argpartition(-(vectors @ q), K)[:K] for q in queries])}
    for ef in EF_SEARCH:
        conn.execute(f"SET hnsw_ef_search = {ef}")
        found = [{row[0] for row in conn.execute(sql(query)).fetchall()} for query in queries]
        out[f"recall_{ef}"] = statistics.fmean(len(f & e) / K for f, e in zip(found, exact, strict=True))
        out[f"ms_{ef}"] = _median_ms([lambda q=q: conn.execute(sql(q)).fetchall() for q in queries])
    conn.close()
    return out


def _median_ms(calls: list[Callable[[], object]]) -> float:
    """Median wall ms of each call once, the first call left out (first touches)."""
    walls = []
    for call in calls:
        started = time.perf_counter()
        call()
        walls.append((time.perf_counter() - started) * 1000)
    return statistics.median(walls[1:] or walls)
