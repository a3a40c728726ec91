"""The per-paper work without Prefect: skip rules, failure isolation, failed writes (see test_ingest_processes for kills)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from paperlake.ids import resolve_refs
from paperlake.settings import Settings
from storage.cache import ContentCache
from storage.lakehouse import connect_read_only as connect
from tasks.chunk import ChunkingOptions
from tasks.derive import collect_passages, records_by_paper, write_extractions
from tasks.extract import extract_with_settings
from tasks.ingest import IngestOptions, ingest_context, ingest_paper
from tasks.ingest_run import lookup_metadata
from tests.helpers import snapshot_problems
from tests.pdfs import make_pdf, sample_pages


def _settings(data_dir: Path, arxiv_url: str = "http://127.0.0.1:9") -> Settings:
    return Settings(data_dir=data_dir, arxiv_url=arxiv_url, arxiv_delay=0, http_max_attempts=1)


def _ingest(settings: Settings, refs: list[str], force: bool = False) -> list:
    sources, _ = resolve_refs(refs)
    metadata = lookup_metadata(settings, sources)
    return [ingest_paper(s, metadata.get(s.paper_id), IngestOptions(force=force), settings) for s in sources]


def _pdfs(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"paper{i}.pdf"
        path.write_bytes(make_pdf(sample_pages(6 + i), title=f"Paper {i}"))
        paths.append(str(path))
    return paths


def test_unreachable_arxiv_fails_each_paper_naming_the_setting_and_local_ones_still_land(tmp_path):
    settings = _settings(tmp_path / "data")
    reports = _ingest(settings, ["2307.09288", *_pdfs(tmp_path / "in", 1)])
    assert [r.status for r in reports] == ["failed", "ok"]
    assert reports[0].reason.startswith("download_failed") and "PAPERLAKE_ARXIV_URL" in reports[0].reason


def test_a_failed_rerun_keeps_the_good_copy(tmp_path, arxiv_server):
    arxiv_server.add_paper("2307.09288", make_pdf(sample_pages(3)), title="Llama 2", authors=[])
    settings = _settings(tmp_path / "data", arxiv_server.url)
    assert _ingest(settings, ["2307.09288"])[0].status == "ok"
    arxiv_server.serve_html_next("/pdf/2307.09288")
    report = _ingest(settings, ["2307.09288"], force=True)[0]
    assert report.status == "failed" and report.extra["kept_previous"]
    with connect(settings.data_dir) as conn:
        assert conn.sql("SELECT status FROM papers").fetchall() == [("ok",)]
        assert conn.sql("SELECT count(*) > 0 FROM nodes").fetchone() == (True,)


def _fail_at(event: str) -> Callable[[str], None]:
    def hook(name: str) -> None:
        if name == event:
            raise OSError("disk full (injected)")

    return hook


def _paper_state(data_dir: Path, paper_id: str) -> tuple:
    with connect(data_dir) as conn:
        conn.execute("BEGIN")
        state = (conn.execute("SELECT id FROM ducklake_current_snapshot('lake')").fetchone(),
                 conn.execute("SELECT * FROM papers WHERE paper_id = ?", [paper_id]).fetchall(),
                 conn.execute("SELECT n.*, e.embedding FROM nodes n LEFT JOIN embeddings e USING (node_id) "
                              "WHERE n.paper_id = ? ORDER BY n.node_id", [paper_id]).fetchall())  # fmt: skip
        conn.execute("ROLLBACK")
    return state


def test_a_write_that_fails_after_some_tables_are_staged_keeps_the_old_version_and_says_write_failed(tmp_path):
    settings = _settings(tmp_path / "data")
    old, new = _pdfs(tmp_path / "in", 2)
    [first] = _ingest(settings, [old])
    before = _paper_state(settings.data_dir, first.paper_id)
    fault = _fail_at("staged:embeddings")  # through the storage seam: nodes staged, embeddings staged, then the fault
    ingest_context(settings).lake.hooks.append(fault)
    try:
        [source] = resolve_refs([old])[0]
        rechunked = IngestOptions(ChunkingOptions(child_chunk_sizes=(64,)), force=True)  # a real change to every table
        again = ingest_paper(source, None, rechunked, settings)
        assert _paper_state(settings.data_dir, first.paper_id) == before  # same row, nodes, vectors, snapshot
        [fresh] = _ingest(settings, [new])
    finally:
        ingest_context(settings).lake.hooks.remove(fault)
    for report in (again, fresh):
        assert report.status == "failed" and report.reason.startswith("write_failed: ") and "disk full (injected)" in report.reason
        assert "\n" not in report.reason
    assert again.extra["kept_previous"] is True and fresh.extra["kept_previous"] is False
    _, problems = snapshot_problems(settings.data_dir)
    assert problems == {}
    with connect(settings.data_dir) as conn:  # the new paper: a failed row saying why, nothing else of it
        assert conn.execute("SELECT status, error FROM papers WHERE paper_id = ?", [fresh.paper_id]).fetchall() == [("failed", fresh.reason)]
        counts = [conn.execute(f"SELECT count(*) FROM {t} WHERE paper_id = ?", [fresh.paper_id]).fetchone()[0]
                  for t in ("nodes", "embeddings", "extractions")]  # fmt: skip
        assert counts == [0, 0, 0]


def _extract(settings: Settings) -> int:
    """One extraction run over the lake, written back as the flow does; returns its model calls."""
    passages, _ = collect_passages(settings, None)
    cache = ContentCache(settings.data_dir / "cache" / "extractions.sqlite")
    try:
        run = extract_with_settings(passages, settings, cache, lake=ingest_context(settings).lake)
    finally:
        cache.close()
    for paper_id, records in records_by_paper(run.records).items():
        assert write_extractions(settings, paper_id, records).status == "ok"
    return run.calls


def _derived(data_dir: Path) -> tuple[dict[str, str], dict[str, list], dict[str, list]]:
    """(parent id -> its text sha256, sha -> its summary and question texts, sha -> its extraction rows)."""
    with connect(data_dir) as conn:
        parents = dict(conn.execute("SELECT node_id, text_sha256 FROM nodes WHERE kind = 'parent'").fetchall())
        nodes = conn.execute("SELECT parent_id, kind, text FROM nodes WHERE kind IN ('summary', 'question') ORDER BY ALL").fetchall()
        rows = conn.execute("SELECT parent_id, kind, model, text, created_at FROM extractions ORDER BY ALL").fetchall()
    by_sha: tuple[dict[str, list], dict[str, list]] = ({}, {})
    for found, into in ((nodes, by_sha[0]), (rows, by_sha[1])):
        for parent_id, *rest in found:
            into.setdefault(parents[parent_id], []).append(tuple(rest))
    return parents, *by_sha


def test_summaries_and_questions_of_unchanged_parent_text_survive_a_re_ingest(tmp_path, arxiv_server):
    pid, pages = "2307.09288", sample_pages(12)
    arxiv_server.add_paper(pid, make_pdf(pages), title="Llama 2", authors=[], version="v1")
    settings = _settings(tmp_path / "data", arxiv_server.url)

    def ingest(child_sizes: tuple[int, ...]) -> None:
        sources, _ = resolve_refs([pid])
        options = IngestOptions(ChunkingOptions(256, child_sizes))  # small parents: many of them
        assert ingest_paper(sources[0], lookup_metadata(settings, sources)[pid], options, settings).status == "ok"

    ingest((64, 128))
    assert _extract(settings) == len(_derived(settings.data_dir)[0])  # the first extraction: a call per parent
    parents, summaries, rows = _derived(settings.data_dir)

    ingest((64,))  # other children, the same parents
    assert _derived(settings.data_dir) == (parents, summaries, rows)

    pages[0] = "\n".join(f"An inserted line number {i} about a new result." for i in range(4)) + "\n" + pages[0]
    arxiv_server.add_paper(pid, make_pdf(pages), title="Llama 2", authors=[], version="v2")
    ingest((64,))  # the first page changed: new text in front, every later parent at a new position
    new_parents, new_summaries, new_rows = _derived(settings.data_dir)
    unchanged = {sha for sha in new_parents.values() if sha in summaries}
    changed = set(new_parents.values()) - unchanged
    assert unchanged and changed and not set(new_parents) & set(parents)  # ids all shifted, most texts kept
    assert new_summaries == {sha: summaries[sha] for sha in unchanged}  # kept, without a call; none for new text
    assert new_rows == {sha: rows[sha] for sha in unchanged}
    assert snapshot_problems(settings.data_dir)[1] == {}
    assert _extract(settings) == len(changed)  # the next extract: only the new texts
    assert set(_derived(settings.data_dir)[1]) == set(new_parents.values())


def test_a_run_opens_the_lake_ahead_only_when_a_paper_will_commit(tmp_path):
    """Opening the lake costs 0.1-0.2 s (signed extensions, attach): done on a thread while the first papers
    parse when some paper is new, and not at all when every paper is current (the memo answers)."""
    from tasks.ingest_run import remember_papers, stored_papers

    settings = _settings(tmp_path)
    known, new = resolve_refs(_pdfs(tmp_path / "pdfs", 2))[0]
    assert _ingest(settings, [str(known.path)])[0].status == "ok"
    remember_papers(settings)

    current = Settings(**{**settings.model_dump(), "workers": 3})  # another context: a new process's view
    assert stored_papers(current, [known])[known.paper_id]["status"] == "ok"
    assert not ingest_context(current).lake.house.is_open

    ahead = Settings(**{**settings.model_dump(), "workers": 4})
    assert list(stored_papers(ahead, [known, new])) == [known.paper_id]
    deadline = time.monotonic() + 60
    while not ingest_context(ahead).lake.house.is_open and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ingest_context(ahead).lake.house.is_open
