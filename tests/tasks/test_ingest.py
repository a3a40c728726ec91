"""The per-paper work without Prefect: skip rules, failure isolation, concurrent runs."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import duckdb

from paperlake.ids import resolve_refs
from paperlake.settings import Settings
from storage.lakehouse import connect_read_only as connect
from tasks.ingest import IngestOptions, ingest_paper, lookup_metadata
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


def _run_in_process(settings_json: str, refs: list[str]) -> None:
    _ingest(Settings.model_validate_json(settings_json), refs, force=True)


def test_two_concurrent_ingests_of_overlapping_papers_leave_one_consistent_copy(tmp_path):
    settings = _settings(tmp_path / "data")
    pdfs = _pdfs(tmp_path / "in", 4)
    _ingest(settings, pdfs[:1])  # the catalog exists; readers query while writers write
    errors: list[Exception] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                with connect(settings.data_dir) as conn:
                    conn.sql("SELECT count(*), count(DISTINCT node_id) FROM nodes JOIN embeddings USING (node_id)").fetchall()
            except duckdb.Error as exc:
                errors.append(exc)

    watcher = threading.Thread(target=reader)
    watcher.start()
    ctx = multiprocessing.get_context("spawn")
    runs = [ctx.Process(target=_run_in_process, args=(settings.model_dump_json(), refs)) for refs in (pdfs[:3], pdfs[1:])]
    for run in runs:
        run.start()
    for run in runs:
        run.join(120)
    stop.set()
    watcher.join()
    assert [run.exitcode for run in runs] == [0, 0]
    assert errors == []
    with connect(settings.data_dir) as conn:
        assert conn.sql("SELECT count(*), count(DISTINCT paper_id) FROM papers WHERE status = 'ok'").fetchone() == (4, 4)
        total, distinct = conn.sql("SELECT count(*), count(DISTINCT node_id) FROM nodes").fetchone()
        assert total == distinct
        unmatched = conn.sql("SELECT count(*) FROM nodes FULL JOIN embeddings USING (node_id) WHERE nodes.paper_id IS NULL OR embeddings.model IS NULL")
        assert unmatched.fetchone() == (0,)
    assert not list(settings.data_dir.rglob("*.tmp"))
