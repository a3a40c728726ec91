"""The per-paper work without Prefect: skip rules, failure isolation, failed writes (see test_ingest_processes for kills)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from paperlake.ids import resolve_refs
from paperlake.settings import Settings
from storage.lakehouse import connect_read_only as connect
from tasks.chunk import ChunkingOptions
from tasks.ingest import IngestOptions, ingest_context, ingest_paper, lookup_metadata
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
