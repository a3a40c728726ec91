"""Ingests as real processes: killed with SIGKILL at chosen and random moments, and two at once.

The processes are `tests/ingest_child.py`; faults go in through the storage seam (the lake's hooks).
After every kill, and in every snapshot a concurrent reader sees, the lake must hold whole papers
only (`tests.helpers.LAKE_CHECKS`), and the next run must redo exactly what did not commit.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

from paperlake.ids import resolve_refs
from paperlake.settings import Settings
from storage.lakehouse import connect_read_only
from tasks.ingest import IngestOptions, ingest_paper
from tests.helpers import child_reports, ingest_child, lake_problems, local_pdfs, snapshot_problems

SMALL = [64]  # child chunk size of the "other" config; the default is 128/256/512


def _ids(pdfs: list[str]) -> list[str]:
    return [source.paper_id for source in resolve_refs(pdfs)[0]]


def _run(spec: dict, timeout: float = 300) -> tuple[int, dict[str, dict]]:
    child = ingest_child(spec)
    out, err = child.communicate(timeout=timeout)
    assert child.returncode in (0, -signal.SIGKILL), err
    return child.returncode, child_reports(out)


def _configs(data_dir: Path) -> dict[str, list[int]]:
    """Child chunk sizes per ok paper, from its `ingest_config` (none before the first commit made the tables)."""
    with connect_read_only(data_dir) as conn:
        if not conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'papers'").fetchone()[0]:
            return {}
        rows = conn.execute("SELECT paper_id, json_extract(ingest_config, '$.child_chunk_sizes')::INTEGER[] "
                            "FROM papers WHERE status = 'ok'").fetchall()  # fmt: skip
    return dict(rows)


def _node_ids(data_dir: Path, paper_id: str) -> list[str]:
    with connect_read_only(data_dir) as conn:
        return [r[0] for r in conn.execute("SELECT node_id FROM nodes WHERE paper_id = ? ORDER BY 1", [paper_id]).fetchall()]


def _whole(data_dir: Path) -> dict[str, list[int]]:
    """The ok papers (with their child sizes) of a lake that holds whole papers only."""
    _, problems = snapshot_problems(data_dir)
    assert problems == {}
    return _configs(data_dir)


def test_kill_9_before_during_and_after_a_commit_leaves_whole_papers_and_the_rerun_redoes_the_torn_one(tmp_path):
    data = tmp_path / "data"
    pdfs = local_pdfs(tmp_path / "in", 6)
    p = _ids(pdfs)
    spec = {"data_dir": str(data), "pdfs": pdfs}
    default = [128, 256, 512]

    code, reports = _run({**spec, "kill_at": ["begin", 3]})  # killed as the third paper's transaction opens
    assert code == -signal.SIGKILL and list(reports) == p[:2]
    assert _whole(data) == {p[0]: default, p[1]: default}

    code, reports = _run({**spec, "kill_at": ["staged:nodes", 2]})  # mid-transaction: nodes staged, the rest not
    assert code == -signal.SIGKILL
    assert [reports[pid]["status"] for pid in p[:3]] == ["skipped", "skipped", "ok"]  # the killed paper is redone
    assert _whole(data) == {p[0]: default, p[1]: default, p[2]: default}

    old_p1 = _node_ids(data, p[1])
    code, reports = _run({**spec, "child_sizes": SMALL, "force": True, "kill_at": ["before_commit", 2]})
    assert code == -signal.SIGKILL and list(reports) == p[:1]  # a re-ingest killed just before its commit...
    assert _whole(data) == {p[0]: SMALL, p[1]: default, p[2]: default}
    assert _node_ids(data, p[1]) == old_p1  # ...leaves the old version of the paper, whole

    code, reports = _run({**spec, "child_sizes": SMALL, "kill_at": ["committed", 2]})  # killed right after a commit
    assert code == -signal.SIGKILL
    assert [reports[pid]["status"] for pid in p[:2]] == ["skipped", "ok"]  # the old copy was not trusted for the new config
    assert _whole(data) == {p[0]: SMALL, p[1]: SMALL, p[2]: SMALL}

    code, reports = _run({**spec, "child_sizes": SMALL})
    assert code == 0
    assert [reports[pid]["status"] for pid in p] == ["skipped"] * 3 + ["ok"] * 3
    assert _whole(data) == dict.fromkeys(p, SMALL)  # every paper once, no duplicate node id (LAKE_CHECKS)


def test_kill_9_at_random_moments_leaves_whole_papers_and_a_rerun_completes(tmp_path):
    data = tmp_path / "data"
    pdfs = local_pdfs(tmp_path / "in", 4)
    rng = random.Random(6)
    killed = 0
    for run, delay in enumerate(sorted(rng.uniform(0.0, 1.5) for _ in range(3))):
        child = ingest_child({"data_dir": str(data), "pdfs": pdfs, "force": True,
                              "child_sizes": SMALL if run % 2 else [128, 256, 512]})  # fmt: skip
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(delay)  # not a timing assert: only where the kill lands
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=300)
        killed += child.returncode == -signal.SIGKILL
        if data.exists() and (data / "lake.sqlite").exists():
            _whole(data)
    assert killed  # at least one kill landed while the child worked (the first comes 0-1.5 s into 4 papers)

    code, reports = _run({"data_dir": str(data), "pdfs": pdfs, "child_sizes": SMALL})
    assert code == 0 and {r["status"] for r in reports.values()} <= {"ok", "skipped"}
    assert _whole(data) == dict.fromkeys(_ids(pdfs), SMALL)


def test_two_ingests_with_different_chunk_sizes_at_once_while_a_reader_loops(tmp_path):
    """Every snapshot the reader sees holds whole papers of one config each; at the end each paper once."""
    data = tmp_path / "data"
    pdfs = local_pdfs(tmp_path / "in", 6)
    p = _ids(pdfs)
    settings = Settings(data_dir=data, arxiv_url="http://127.0.0.1:9")
    ingest_paper(resolve_refs(pdfs[:1])[0][0], None, IngestOptions(), settings)  # tables exist before the reader reads
    # Same order of the overlapping papers in both, commits held open 0.5 s: the two writers meet on each paper.
    specs = [{"data_dir": str(data), "pdfs": pdfs[1:5] + pdfs[:1], "force": True},
             {"data_dir": str(data), "pdfs": pdfs[1:6], "force": True, "child_sizes": SMALL, "parent_size": 512}]  # fmt: skip
    children = [ingest_child({**spec, "slow_commit_s": 0.5, "wait_for_go": True}) for spec in specs]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    seen: dict[int, dict[str, int]] = {}
    with connect_read_only(data) as conn:
        while any(child.poll() is None for child in children):
            conn.execute("BEGIN")  # one snapshot for every check of this iteration
            snapshot = conn.execute("SELECT id FROM ducklake_current_snapshot('lake')").fetchone()[0]
            seen[snapshot] = lake_problems(conn)
            conn.execute("ROLLBACK")
    outputs = [child.communicate(timeout=300) for child in children]
    assert [child.returncode for child in children] == [0, 0], [err for _, err in outputs]
    assert all(r["status"] == "ok" for out, _ in outputs for r in child_reports(out).values())
    assert len(seen) > 2  # the reader really saw the writers' snapshots go by
    assert {snapshot: problems for snapshot, problems in seen.items() if problems} == {}
    final = _whole(data)  # each paper once, its nodes from the config its row names
    assert set(final) == set(p)
    assert {tuple(sizes) for pid, sizes in final.items() if pid in p[1:5]} <= {(128, 256, 512), tuple(SMALL)}
