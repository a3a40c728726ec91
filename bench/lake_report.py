"""Printing bench/lake.py's results: one block per section, with the aims and whether each is met.

Every figure is "wall ms (CPU ms)", medians of the same runs; ratios likewise "wall (CPU)".
"""

from __future__ import annotations

from bench.lake import BATCH, LAYOUTS, PARENTS, PER_PAPER, QUERIES, RUNS, SIZES, TYPICAL_PARENTS, Build, CommitCost, Measured
from bench.synthetic import DIM, nodes_per_paper
from bench.timing import Timing, median

AIM_GROWTH = 2.0  # the aim: after maintenance, the query at 10,000 papers within 2x of 100


def _describe_build(build: Build) -> None:
    per_paper = min(PER_PAPER, max(SIZES))
    print(f"DuckLake built: the first {per_paper} papers one Lake.write_paper commit each (median "
          f"{median(build.commits or [Timing(0, 0)])} ms per commit), the other {max(SIZES) - per_paper} in commits of "
          f"{BATCH} papers, each paper's nodes and vectors their own INSERT: the same data files as one commit per paper "
          "(fewer snapshots; 10,000 real commits take too long here)")
    print(f"build time: DuckLake {build.seconds['lake']:.0f} s; old layout {build.seconds['old']:.0f} s of writing "
          "(no fsync, beside the DuckLake bulk commits)")
    for papers, (seconds, summary) in sorted(build.maintained.items()):
        print(f"maintain at {papers:,} papers: {seconds:.1f} s ({summary})")


def print_queries(results: dict[int, dict[str, Measured]], build: Build) -> None:
    print("== Lake queries (bench/lake.py) ==")
    print(f"synthetic papers: {nodes_per_paper(PARENTS)} nodes each ({PARENTS} parent of ~4,000 characters, 17 children, "
          f"a summary, 3 questions), {DIM}-d float32 vectors, 2 extraction rows; a real paper has ~"
          f"{nodes_per_paper(TYPICAL_PARENTS)} nodes,")
    print("  too many for 10,000 papers in minutes; the files per paper (what the old layout paid for) are the same")
    _describe_build(build)
    print(f"wall ms (CPU ms), median of {RUNS} runs, each a different paper (at least 3 once 10 s are spent); "
          "open = connect + attach, or create the views (median of up to 3)")
    head = "".join(f"{'(' + k + ') ' + label:>23}" for k, (label, _) in QUERIES.items())
    print(f"{'papers':>7}  {'layout':<33}{'files':>6}{'snaps':>6}{'open':>16}{head}{'find_vectors':>17}")
    for size, by_layout in results.items():
        for layout, m in by_layout.items():
            snaps = "-" if m.snapshots is None else str(m.snapshots)
            cells = "".join(f"{str(m.queries[k]):>23}" for k in QUERIES)
            print(f"{size:>7,}  {LAYOUTS[layout]:<33}{m.files:>6}{snaps:>6}{str(m.open):>16}{cells}{str(m.lookup or '-'):>17}")
    agree = all(len({repr(m.answers) for m in by_layout.values()}) == 1 for by_layout in results.values())
    print(f"every layout returned the same rows for every query: {'yes' if agree else 'NO'}")


def print_ratios(results: dict[int, dict[str, Measured]]) -> None:
    small, big = min(results), max(results)

    def cells(a: Measured, b: Measured) -> str:
        return ", ".join(f"({k}) {a.queries[k].ratio(b.queries[k])}" for k in QUERIES)

    print(f"{big:,} vs {small:,} papers, same layout, time ratio wall (CPU):")
    for layout, label in LAYOUTS.items():
        print(f"  {label:<33} {cells(results[big][layout], results[small][layout])}")
    print("DuckLake after maintain vs old layout, same papers, time ratio wall (CPU), below 1 is faster:")
    for size, by_layout in results.items():
        print(f"  {size:>7,} papers: {cells(by_layout['kept'], by_layout['old'])}")
    verdicts = []
    for key in QUERIES:
        grown = [getattr(results[big]["kept"].queries[key], f) / getattr(results[small]["kept"].queries[key], f)
                 for f in ("wall_ms", "cpu_ms")]  # fmt: skip
        met = "met" if max(grown) <= AIM_GROWTH else "met on CPU only" if grown[1] <= AIM_GROWTH else "MISSED"
        verdicts.append(f"({key}) {grown[0]:.2f}x ({grown[1]:.2f}x) {met}")
    print(f"aim: after maintenance, each query at {big:,} papers within {AIM_GROWTH:.0f}x of {small:,}: {'; '.join(verdicts)}")


def print_commits(cost: CommitCost, size: int) -> None:
    print(f"== Commit overhead per paper (bench/lake.py: a typical paper, {nodes_per_paper(TYPICAL_PARENTS)} nodes with "
          f"{DIM}-d vectors, into the {size:,}-paper lakes, DuckLake maintained; wall ms (CPU ms), median of {RUNS}) ==")
    print(f"new paper:          DuckLake Lake.write_paper {cost.new['lake']} (one transaction, 4 tables); old layout "
          f"{cost.new['old']} (4 Parquet files, each fsynced and renamed): {cost.new['lake'].ratio(cost.new['old'])}")
    print(f"unchanged re-write: DuckLake {cost.same['lake']}, {cost.snapshots_by_rewrite} snapshots or files written; "
          f"old layout {cost.same['old']} (rewrote its 4 files): {cost.same['lake'].ratio(cost.same['old'])}")
