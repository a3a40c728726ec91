"""Ingest benchmark on the shared corpus, served by the local arXiv stand-in.

Prints, from one process and one run:
- the notebook way (PDFReader + SentenceSplitter + sub-splitters + in-memory VectorStoreIndex,
  same wordllama embedder) in pages/s;
- paperlake's cold ingest without Prefect and as the `ingest-arxiv` flow, pages/s and nodes/s,
  the ratio to the notebook way, and Prefect's share of the flow's wall time;
- the warm re-run of the flow, its requests to arXiv, and its time against the cold run.
One-time process costs (Prefect's ephemeral server, the parser's forkserver) are measured and
printed separately: a worker pays them once, not per run.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def _setup_env(root: Path) -> None:
    os.environ["PREFECT_HOME"] = str(root / "prefect")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    # A shared 2-core machine can take longer than Prefect's default 20 s to start its server.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ["PAPERLAKE_ARXIV_DELAY"] = "0"
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # per-font warnings of the notebook's PDFReader


def notebook_way(pdfs: list[Path]) -> tuple[float, int, int]:
    """The recursive-retriever notebook's ingest, paper by paper; returns (seconds, pages, nodes)."""
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import IndexNode
    from llama_index.readers.file import PDFReader

    from paperlake.embedders import WordLlamaEmbedder
    from paperlake.llamaindex import EmbedderAdapter

    embed_model = EmbedderAdapter(WordLlamaEmbedder())
    started, pages, all_nodes = time.perf_counter(), 0, []
    for pdf in pdfs:
        docs0 = PDFReader().load_data(file=pdf)
        pages += len(docs0)
        docs = [Document(text="\n\n".join(d.get_content() for d in docs0))]
        base_nodes = SentenceSplitter(chunk_size=1024).get_nodes_from_documents(docs)
        sub_parsers = [SentenceSplitter(chunk_size=c, chunk_overlap=20) for c in (128, 256, 512)]
        for base in base_nodes:
            for parser in sub_parsers:
                all_nodes += [IndexNode.from_text_node(n, base.node_id) for n in parser.get_nodes_from_documents([base])]
            all_nodes.append(IndexNode.from_text_node(base, base.node_id))
    VectorStoreIndex(all_nodes, embed_model=embed_model)
    return time.perf_counter() - started, pages, len(all_nodes)


def without_prefect(refs: list[str], data_dir: Path) -> tuple[float, list, float]:
    """The flow's work, wired by hand: the yardstick for Prefect's overhead. (seconds, reports, seconds
    of them spent refreshing the search index at the end)."""
    from paperlake.ids import resolve_refs
    from paperlake.settings import Settings
    from tasks.ingest import IngestOptions, ingest_paper
    from tasks.ingest_run import lookup_metadata, remember_papers, stored_papers
    from tasks.search_index import refresh_search_index

    settings = Settings(data_dir=data_dir)
    started = time.perf_counter()
    sources, _ = resolve_refs(refs)
    with ThreadPoolExecutor(settings.workers) as pool:
        asked = pool.submit(lookup_metadata, settings, sources)  # as the flow does: the lake opens meanwhile
        stored = stored_papers(settings, sources)
        metadata = asked.result()
        reports = list(pool.map(lambda s: ingest_paper(s, metadata.get(s.paper_id), IngestOptions(), settings,
                                                       stored.get(s.paper_id)), sources))  # fmt: skip
    index_s = 0.0
    if any(r.status == "ok" for r in reports):  # as the flow does: the search index made current at the end
        index_s = refresh_search_index(settings) or 0.0
    if any(r.status != "skipped" for r in reports):  # as the flow does: the lake's new state remembered
        remember_papers(settings)
    return time.perf_counter() - started, reports, index_s


def with_prefect(refs: list[str], data_dir: Path) -> tuple[float, list]:
    from flows.ingest_arxiv import ingest_arxiv
    from paperlake.runs import run_here

    os.environ["PAPERLAKE_DATA_DIR"] = str(data_dir)
    started = time.perf_counter()
    state = run_here(ingest_arxiv, refs)  # as `paperlake ingest` runs it
    elapsed = time.perf_counter() - started
    if not state.is_completed():
        sys.exit(f"flow run did not complete: {state.message}")
    return elapsed, state.result()


def _warm_process() -> tuple[float, float]:
    """Start Prefect's ephemeral server and the parser's forkserver; returns their seconds."""
    from prefect import flow

    from paperlake.isolation import start_forkserver
    from tasks.chunk import INGEST_PRELOAD

    started = time.perf_counter()
    flow(lambda: None, name="warm-up")()
    prefect_start = time.perf_counter() - started
    started = time.perf_counter()
    start_forkserver(INGEST_PRELOAD)
    return prefect_start, time.perf_counter() - started


def main() -> None:
    if not CORPUS.is_dir():
        print(f"bench/ingest: {CORPUS} is absent; nothing to measure")
        return
    root = Path(tempfile.mkdtemp(prefix="paperlake-bench-"))
    _setup_env(root)
    from tests.fakes.arxiv_server import ArxivStandIn

    server = ArxivStandIn()
    server.__enter__()
    arxiv_ids = server.load_corpus(CORPUS / "arxiv")
    local_pdf = CORPUS / "local" / "BlockchainSolana.pdf"
    os.environ["PAPERLAKE_ARXIV_URL"] = server.url
    refs = [*arxiv_ids, str(local_pdf)]
    pdfs = [CORPUS / "arxiv" / f"{i}.pdf" for i in arxiv_ids] + [local_pdf]

    prefect_start, forkserver_start = _warm_process()
    notebook = [notebook_way(pdfs) for _ in range(RUNS)]
    plain_runs = [without_prefect(refs, root / f"plain-{i}") for i in range(RUNS)]
    plain, index_s = [r[0] for r in plain_runs], statistics.median(r[2] for r in plain_runs)
    flows = [with_prefect(refs, root / f"flow-{i}") for i in range(RUNS)]
    warm_plain = [without_prefect(refs, root / "plain-0")[0] for _ in range(RUNS)]
    before = len(server.requests)
    warm = [with_prefect(refs, root / "flow-0")[0] for _ in range(RUNS)]
    warm_requests = server.paths()[before:]
    server.close()

    pages, nodes = notebook[0][1], sum(r.n_nodes for r in flows[0][1])
    our_pages = sum(r.n_pages for r in flows[0][1])
    nb_s, plain_s = statistics.median(n[0] for n in notebook), statistics.median(plain)
    cold_s, warm_s = statistics.median(f[0] for f in flows), statistics.median(warm)
    print(f"corpus: {len(refs)} papers, {pages} pages; paperlake nodes: {nodes} (notebook nodes: {notebook[0][2]})")
    print(f"one-time process costs: Prefect ephemeral server {prefect_start:.1f} s, parser forkserver {forkserver_start:.1f} s")
    print(f"notebook way (PDFReader+SentenceSplitter+VectorStoreIndex): {nb_s:.2f} s, {pages / nb_s:.1f} pages/s")
    print(f"paperlake cold, no Prefect:   {plain_s:.2f} s, {our_pages / plain_s:.1f} pages/s (of which {index_s:.2f} s "
          "building the search index at the end, as the flow does)")  # fmt: skip
    print(f"paperlake cold, ingest-arxiv: {cold_s:.2f} s, {our_pages / cold_s:.1f} pages/s, {nodes / cold_s:.0f} nodes/s")
    print(f"  ratio to the notebook way: {nb_s / cold_s:.1f}x pages/s (aim >= 3x)")
    overhead = cold_s - plain_s
    print(f"  Prefect overhead: {overhead:+.2f} s = {100 * overhead / cold_s:+.0f}% of the run (aim < 15%; "
          f"runs vary by ~0.2 s here, so small values are noise)")
    per_run = len(warm_requests) // max(len(warm), 1)
    print(f"paperlake warm re-run, ingest-arxiv: {warm_s:.2f} s = {100 * warm_s / cold_s:.0f}% of cold (aim < 5%); "
          f"without Prefect: {statistics.median(warm_plain):.3f} s")
    print(f"  arXiv requests per warm run: {per_run} ({', '.join(sorted(set(p.split('?')[0] for p in warm_requests)))}); "
          f"PDFs downloaded: {sum('/pdf/' in p for p in warm_requests)}")
    print(f"(median of {RUNS} runs each; against the code before DuckLake: bench/ingest_before.py)")


if __name__ == "__main__":
    main()
