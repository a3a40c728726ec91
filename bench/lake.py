"""Lake benchmark: typical SQL over synthetic lakes of 100, 1,000 and 10,000 papers, in three layouts
measured in the same run, and what committing one paper costs.

Layouts: the old one (a Parquet file per paper per table, read through `read_parquet` glob views,
bench/legacy.py), DuckLake as per-paper commits leave it, and DuckLake after `storage.maintain`.
Papers are synthetic (bench/synthetic.py), smaller than real ones so that 10,000 of them build in
minutes; what the old layout suffered from is the number of files, which is the same per paper.
bench/lake_report.py prints the results.

Knobs for quick runs: BENCH_LAKE_SIZES (default 100,1000,10000), BENCH_LAKE_RUNS (median of, 7),
BENCH_LAKE_PARENTS (1: 22 nodes a paper), BENCH_LAKE_PER_PAPER (papers written one `Lake.write_paper`
commit each before the bulk build takes over, 100), BENCH_LAKE_BATCH (papers per bulk commit, 100),
BENCH_LAKE_BUDGET_S (seconds per query and layout before stopping at 3 runs, 10), BENCH_LAKE_DIR
(keep the lakes there instead of a temporary folder).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import duckdb

from bench.legacy import LegacyLake
from bench.synthetic import MODEL, Paper, PaperMaker, nodes_per_paper
from bench.timing import Timing, median, median_of, timed
from paperlake.models import sha256_text
from storage.lake import Lake, embeddings_table, nodes_to_table
from storage.lakehouse import Append, Lakehouse, connect_read_only
from storage.maintain import maintain
from storage.schema import EMBEDDINGS, EXTRACTIONS, NODES, PAPERS

SIZES = sorted(int(s) for s in os.environ.get("BENCH_LAKE_SIZES", "100,1000,10000").split(","))
RUNS = int(os.environ.get("BENCH_LAKE_RUNS", "7"))
PARENTS = int(os.environ.get("BENCH_LAKE_PARENTS", "1"))
PER_PAPER = int(os.environ.get("BENCH_LAKE_PER_PAPER", "100"))
BATCH = int(os.environ.get("BENCH_LAKE_BATCH", "100"))
BUDGET_S = float(os.environ.get("BENCH_LAKE_BUDGET_S", "10"))
TYPICAL_PARENTS = 20  # ~440 nodes: a real paper, for the commit overhead

_JOIN = ("SELECT n.node_id, n.kind, n.text, e.embedding FROM nodes n JOIN embeddings e USING ({on}) "
         f"WHERE n.paper_id = $pid AND e.model = '{MODEL}' ORDER BY n.node_id")  # fmt: skip
QUERIES = {
    "a": ("a paper's nodes",
          "SELECT node_id, kind, parent_id, chunk_size, position, text FROM nodes WHERE paper_id = $pid "
          "ORDER BY kind, chunk_size, position"),
    # The old embeddings files had no paper_id (the file name was the paper): the join could only use node_id.
    "b": ("its nodes+vectors", _JOIN.format(on="paper_id, node_id")),
    "c": ("counts by kind", "SELECT kind, count(*) AS n FROM nodes GROUP BY kind ORDER BY kind"),
}  # fmt: skip
SQL = {"old": {**{k: q for k, (_, q) in QUERIES.items()}, "b": _JOIN.format(on="node_id")},
       "lake": {k: q for k, (_, q) in QUERIES.items()}}  # fmt: skip
LAYOUTS = {"old": "old: file per paper, glob views", "lake": "DuckLake, per-paper commits", "kept": "DuckLake after maintain"}


@dataclass
class Measured:
    files: int
    snapshots: int | None
    open: Timing  # connect and attach (DuckLake) or create the views (old): what each `paperlake sql` pays
    queries: dict[str, Timing]
    lookup: Timing | None = None  # Lake.find_vectors: the shared-cache lookup each ingested paper makes (its own paper's files)
    answers: list = field(default_factory=list)  # the results, to check every layout answers alike


@dataclass
class Build:
    commits: list[Timing] = field(default_factory=list)  # Lake.write_paper of each of the first PER_PAPER papers
    seconds: dict[str, float] = field(default_factory=lambda: {"old": 0.0, "lake": 0.0})
    maintained: dict[int, tuple[float, str]] = field(default_factory=dict)  # papers -> (seconds, summary)


def _run(conn: duckdb.DuckDBPyConnection, sql: str, pid: str) -> list:
    return conn.execute(sql, {"pid": pid} if "$pid" in sql else {}).fetchall()


def _queries(connect: Callable[[], duckdb.DuckDBPyConnection], pids: list[str], sqls: dict[str, str]) -> tuple:
    """(open, per-query medians, answers: the first paper's, to compare layouts). No untimed warm-up: the
    median absorbs a first run's extra cost, and the old layout's 10,000-paper queries take seconds each."""
    opened = median_of([lambda: connect().close()] * 3, BUDGET_S, min_runs=1)
    conn, times, answers = connect(), {}, []
    for key, sql in sqls.items():
        first, answer = timed(lambda s=sql: _run(conn, s, pids[0]))
        answers.append(answer)
        times[key] = median_of([lambda s=sql, p=p: _run(conn, s, p) for p in pids[1:]], BUDGET_S, done=(first,))
    conn.close()
    return opened, times, answers


def _lake_counts(data_dir: Path) -> tuple[int, int]:
    """(data files the latest snapshot reads, snapshots) of a DuckLake."""
    with connect_read_only(data_dir) as conn:
        files = sum(conn.execute("SELECT count(*) FROM ducklake_list_files('lake', ?)", [t]).fetchone()[0]
                    for t in ("papers", "nodes", "embeddings", "extractions"))  # fmt: skip
        snapshots = conn.execute("SELECT count(*) FROM ducklake_snapshots('lake')").fetchone()[0]
    return files, snapshots


def lookup_digests(paper: Paper) -> list[str]:
    """What ingesting a typical paper asks the shared cache: 440 digests, this paper's 22 found, the rest new."""
    missing = [sha256_text(f"new passage {i}") for i in range(nodes_per_paper(TYPICAL_PARENTS) - len(paper.nodes))]
    return [n.text_sha256 for n in paper.nodes] + missing


def _bulk(papers: list[Paper]) -> list[Append]:
    """Many papers in one commit, each paper's nodes and vectors their own INSERT: the same data files one
    commit per paper leaves. `papers` and `extractions` rows (read by none of the queries) go in once."""
    changes = [change for p in papers for change in (Append(NODES, nodes_to_table(p.nodes)),
                                                       Append(EMBEDDINGS, embeddings_table(p.nodes, MODEL, p.vectors)))]  # fmt: skip
    rows = [r for p in papers for r in p.extractions]
    return [*changes, Append(EXTRACTIONS, EXTRACTIONS.rows(rows)), Append(PAPERS, PAPERS.rows([p.row for p in papers]))]


class Lakes:
    """The old-layout lake and the DuckLake, grown together paper by paper."""

    def __init__(self, root: Path, maker: PaperMaker) -> None:
        self.root, self.maker, self.count = root, maker, 0
        self.old = LegacyLake(root / "old")
        self.lake = Lake(root / "lake")
        self.build = Build()

    def _write_old(self, p: Paper) -> None:
        started = time.perf_counter()
        self.old.write_paper(p.row, p.nodes, p.vectors, MODEL, p.extractions, durable=False)
        self.build.seconds["old"] += time.perf_counter() - started

    def _commit(self, write: Callable[[], object]) -> Timing:
        took = timed(write)[0]
        self.build.seconds["lake"] += took.wall_ms / 1000
        return took

    def grow(self, target: int) -> None:
        """Add papers up to `target`; past the per-paper commits, the old layout is written in a thread meanwhile."""
        batch: list[Paper] = []
        pending: list[Future] = []
        with ThreadPoolExecutor(1) as old_writer:
            while self.count < target:
                p = self.maker.make(self.count)
                if self.count < PER_PAPER:
                    self._write_old(p)
                    self.build.commits.append(self._commit(lambda p=p: self.lake.write_paper(p.row, p.nodes, p.vectors, MODEL,
                                                                                              p.extractions)))  # fmt: skip
                else:
                    pending.append(old_writer.submit(self._write_old, p))
                    batch.append(p)
                self.count += 1
                if len(batch) >= BATCH or (batch and self.count == target):
                    self._commit(lambda b=batch: self.lake.house.commit(_bulk(b), message="bench bulk"))
                    batch = []
        for done in pending:
            done.result()  # a failed write fails the benchmark

    def maintained_copy(self) -> Path:
        """A copy of the DuckLake as it stands, then maintained (snapshots expired, small files merged)."""
        self.lake.house.close()
        copy = self.root / f"kept-{self.count}"
        shutil.copytree(self.root / "lake", copy, ignore=shutil.ignore_patterns(".locks"))
        house = Lakehouse(copy)
        started = time.perf_counter()
        done = maintain(house, retention=timedelta(0), grace=timedelta(0))
        self.build.maintained[self.count] = (time.perf_counter() - started, done.summary())
        house.close()
        return copy

    def measure(self, size: int) -> dict[str, Measured]:
        picked = random.Random(size).sample(range(size), min(size, RUNS))
        pids, lookup = [self.maker.paper_id(i) for i in picked], lookup_digests(self.maker.make(picked[0]))
        opened, times, answers = _queries(self.old.connect, pids, SQL["old"])
        found = {"old": Measured(self.old.file_count(), None, opened, times, answers=answers)}
        for layout, folder in (("lake", self.root / "lake"), ("kept", self.maintained_copy())):
            opened, times, answers = _queries(lambda f=folder: connect_read_only(f), pids, SQL["lake"])
            reader = Lake(folder)
            lookup_time = median_of([lambda r=reader: r.find_vectors(MODEL, lookup, [pids[0]])] * RUNS, BUDGET_S)
            reader.house.close()
            found[layout] = Measured(*_lake_counts(folder), opened, times, lookup_time, answers)
        return found


@dataclass
class CommitCost:
    new: dict[str, Timing]  # a paper not in the lake yet, by layout
    same: dict[str, Timing]  # the same paper written again, unchanged
    snapshots_by_rewrite: int  # DuckLake snapshots the unchanged re-writes made (should be 0)


def commit_overhead(old: LegacyLake, kept: Path) -> CommitCost:
    """A typical paper (440 nodes) written into the largest lakes: new, then again unchanged."""
    typical, lake = PaperMaker(TYPICAL_PARENTS, seed=11), Lake(kept)
    new: dict[str, list[Timing]] = {"old": [], "lake": []}
    same: dict[str, list[Timing]] = {"old": [], "lake": []}
    rewrite_snapshots = 0
    for r in range(RUNS):
        p = typical.make(1_000_000 + r)
        for bucket in (new, same):
            # A new paper as ingest writes it (appended, its lock held, nothing to compare); then again, compared.
            took, result = timed(lambda p=p, b=bucket: lake.write_paper(p.row, p.nodes, p.vectors, MODEL, p.extractions, new=b is new))
            bucket["lake"].append(took)
            rewrite_snapshots += bucket is same and result.snapshot_id is not None
            # the old layout rewrote all four files, changed or not
            bucket["old"].append(timed(lambda p=p: old.write_paper(p.row, p.nodes, p.vectors, MODEL, p.extractions))[0])
    lake.house.close()
    return CommitCost({k: median(v) for k, v in new.items()}, {k: median(v) for k, v in same.items()}, rewrite_snapshots)


def main() -> None:
    from bench.lake_report import print_commits, print_queries, print_ratios

    root = Path(os.environ.get("BENCH_LAKE_DIR") or tempfile.mkdtemp(prefix="paperlake-bench-lake-"))
    started, load = time.perf_counter(), os.getloadavg()[0]
    lakes = Lakes(root, PaperMaker(PARENTS))
    results: dict[int, dict[str, Measured]] = {}
    for size in SIZES:
        lakes.grow(size)
        results[size] = lakes.measure(size)
    cost = commit_overhead(lakes.old, root / f"kept-{max(SIZES)}")
    print_queries(results, lakes.build)
    print_ratios(results)
    print_commits(cost, max(SIZES))
    print(f"(lake benchmark: {time.perf_counter() - started:.0f} s; load average {load:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end, on {os.cpu_count()} cores)")
    if not os.environ.get("BENCH_LAKE_DIR"):
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
