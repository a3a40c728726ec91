"""Retrieval quality of each strategy on a dev set, and the levers of issue 7 (`--levers`), side by side.

    python -m bench.search_quality [--dataset PATH | --generated N [--seed S]] [--data-dir DIR] [--levers]

`--dataset` (default: the shared Solana rag_dataset.json) ingests the PDF beside it (same stem) into a
scratch lake under bench/out/ once; `--generated N` reads (or writes once) the lake's generated question
set, as `paperlake evaluate --generated N` does, in the lake of `--data-dir`. Relevance and metrics are
the nightly evaluation's own (paperlake/relevance.py, paperlake/metrics.py through tasks/evaluate.py):
one rule, no copy here. This is a developer's measuring tool; the nightly record is `evaluate-retrieval`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "corpus" / "local" / "BlockchainSolana.rag_dataset.json"
KS = (1, 5, 10)
COLUMNS = (("hit@1", 1, "hit_rate"), ("hit@5", 5, "hit_rate"), ("hit@10", 10, "hit_rate"), ("MRR@5", 5, "mrr"))

Rankings = dict[str, list[list[str]]]  # name -> per question, parent node ids best first


def ensure_lake(dataset: Path) -> Path:
    """A scratch lake with the dataset's PDF ingested and extracted (offline defaults), made once."""
    data_dir = ROOT / "bench" / "out" / f"quality-{dataset.stem}"
    if not (data_dir / "lake.sqlite").exists():
        pdf = dataset.with_name(dataset.name.replace(".rag_dataset.json", ".pdf"))
        env = {**os.environ, "PAPERLAKE_DATA_DIR": str(data_dir)}
        subprocess.run([str(Path(sys.executable).with_name("paperlake")), "ingest", "--extract", str(pdf)], env=env, check=True)
    return data_dir


def questions(args: argparse.Namespace, settings):
    """The EvalDataset the evaluation itself would use."""
    if args.generated:
        from tasks.eval_dataset import generated_from_lake

        return generated_from_lake(settings, args.generated, args.seed)
    from paperlake.eval_data import load_rag_dataset

    return load_rag_dataset(args.dataset)


def strategy_rankings(settings, queries: list[str]) -> Rankings:
    from storage.search import STRATEGIES, Searcher

    with Searcher(settings) as searcher:
        rankings = {s: [[r.node_id for r in hits] for hits in searcher.search_many(queries, s, max(KS))] for s in STRATEGIES}
        rrf = searcher.search_many(queries, "hybrid", max(KS), fusion="rrf")  # `paperlake query --fusion rrf`
    return rankings | {"hybrid --fusion rrf": [[r.node_id for r in hits] for hits in rrf]}


def lever_rankings(settings, queries: list[str]) -> Rankings:
    from bench.search_levers import Lab, levers

    lab = Lab(settings.data_dir, queries, settings)
    return {name: lab.rank(variant, max(KS)) for name, variant in levers().items()}


def scores(settings, dataset, rankings: Rankings) -> dict[str, dict[str, float]]:
    """name -> {column: value}, judged and aggregated by the evaluation's functions."""
    from storage.lakehouse import Lakehouse
    from tasks.evaluate import Retrieval, judge_all, score

    house = Lakehouse(settings.data_dir, read_only=True)
    parents = {r["node_id"]: r["text"] for r in house.query("SELECT node_id, text FROM nodes WHERE kind = 'parent'").to_pylist()}
    house.close()
    results, _ = score(dataset, judge_all(dataset, Retrieval(0, settings.embed_model, rankings), parents), KS)
    by = {(r["strategy"], r["k"]): r for r in results}
    return {name: {col: by[(name, k)][metric] for col, k, metric in COLUMNS} for name in rankings}


def main(argv: Sequence[str] | None = None) -> int:
    from paperlake.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    source.add_argument("--generated", type=int, metavar="N", help="the lake's generated set of N questions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--levers", action="store_true", help="also every lever, one change at a time to the shipped hybrid")
    parser.add_argument("--data-dir", type=Path, help="a lake holding the dataset's papers already (default: made once)")
    args = parser.parse_args(argv)
    if args.generated and args.data_dir is None:
        parser.error("--generated needs --data-dir (the lake its questions come from)")
    if not args.generated and not args.dataset.is_file():
        print(f"skipped: no dataset at {args.dataset}")
        return 0
    data_dir = args.data_dir or ensure_lake(args.dataset)
    os.environ["PAPERLAKE_DATA_DIR"] = str(data_dir)
    settings = load_settings()
    dataset = questions(args, settings)
    queries = [q.question for q in dataset.questions]
    rankings = strategy_rankings(settings, queries)
    if args.levers:
        levers = lever_rankings(settings, queries)
        same = sum(a == b for a, b in zip(levers["shipped hybrid (lab)"], rankings["hybrid"], strict=True))
        print(f"the lab's shipped variant ranks as the search path's hybrid for {same} of {len(queries)} questions (top {max(KS)})")
        rankings |= levers
    print(f"{dataset.name}: {len(queries)} questions, embeddings {settings.embed_model}")
    print(f"{'strategy / lever':<52}" + "".join(f"{c:>8}" for c, _, _ in COLUMNS))
    for name, row in scores(settings, dataset, rankings).items():
        print(f"{name:<52}" + "".join(f"{row[c]:>8.3f}" for c, _, _ in COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
