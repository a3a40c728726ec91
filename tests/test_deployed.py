"""End to end, the Prefect way (the slow one, marked `e2e`, run by `make test` and CI).

In a temporary PREFECT_HOME: a real Prefect server (SQLite) and a process worker as subprocesses,
`prefect work-pool create`, `prefect deploy --all` from prefect.yaml, then `prefect deployment run
... --watch` of the ingest and the daily watch against the arXiv stand-in, checked in the lake with
DuckDB, and the schedules read back from the server. The scheduler service is off, so no scheduled
run can start in the middle of the test; the schedules are stored all the same.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from storage.lakehouse import connect_read_only
from tests.fakes.arxiv_server import ArxivStandIn
from tests.pdfs import make_pdf, sample_pages

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
STARTUP_S = 240  # measured: 5 s on an idle machine, up to a minute on a loaded one
RUN_TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    """The server, the worker and the environment every `prefect` command of the test gets."""

    home: Path
    api_url: str
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, args: list[str]) -> None:
        log = (self.home / f"{name}.log").open("w")
        # A session of its own: the last resort kills the process group (the worker's flow runs too).
        self.procs[name] = subprocess.Popen([PREFECT, *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)  # fmt: skip

    def prefect(self, args: list[str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PREFECT, "--no-prompt", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.home.glob("*.log")))

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            assert self.procs["server"].poll() is None, f"the Prefect server exited\n{self.logs()}"
            try:
                if httpx.get(f"{self.api_url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"no healthy Prefect server after {STARTUP_S} s\n{self.logs()}")

    def stop(self, name: str, first: signal.Signals, grace_s: float = 20) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        for sig, wait_s in ((first, grace_s), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig) if sig is signal.SIGKILL else proc.send_signal(sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue


def _environment(home: Path, api_url: str, data_dir: Path, arxiv: ArxivStandIn) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PAPERLAKE_", "OPENAI_"))}
    return {
        **inherited, "PWD": str(ROOT),  # prefect.yaml's pull step runs flows from {{ $PWD }}: this checkout
        "PREFECT_HOME": str(home), "PREFECT_API_URL": api_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false", "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(STARTUP_S),
        "PAPERLAKE_DATA_DIR": str(data_dir), "PAPERLAKE_ARXIV_URL": arxiv.url, "PAPERLAKE_ARXIV_DELAY": "0",
        "PAPERLAKE_HTTP_MAX_ATTEMPTS": "2",
    }  # fmt: skip


@pytest.fixture
def stack(tmp_path: Path, arxiv_server: ArxivStandIn) -> Iterator[Stack]:
    home = tmp_path / "prefect-home"
    home.mkdir()
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    running = Stack(home, api_url, _environment(home, api_url, tmp_path / "data", arxiv_server))
    try:
        running.start("server", ["server", "start", "--host", "127.0.0.1", "--port", str(port)])
        running.wait_healthy()
        yield running
    finally:
        # Measured: a worker whose server is gone ignores SIGTERM for many seconds. Worker first, with SIGINT.
        running.stop("worker", signal.SIGINT)
        running.stop("server", signal.SIGINT)


def _add(server: ArxivStandIn, paper_id: str, day: int, category: str) -> None:
    server.add_paper(paper_id, make_pdf(sample_pages(2)), title=f"Paper {paper_id}", authors=["A. Author"],
                     categories=[category], published=f"2026-06-{day:02d}T09:00:00Z")  # fmt: skip


def _run_deployment(stack: Stack, name: str, params: dict[str, object]) -> None:
    args = ["deployment", "run", name, "--watch", "--watch-timeout", str(RUN_TIMEOUT_S)]
    for key, value in params.items():
        args += ["--param", f"{key}={json.dumps(value)}"]
    result = stack.prefect(args, timeout=RUN_TIMEOUT_S + 60)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{stack.logs()}"


def _lake(data_dir: Path, sql: str) -> list[tuple]:
    with connect_read_only(data_dir) as conn:
        return conn.sql(sql).fetchall()


def _deployments(api_url: str) -> dict[str, object]:
    """Every deployment on the server by `flow/deployment`, read through Prefect's client."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        flows = {f.id: f.name for f in client.read_flows()}
        return {f"{flows[d.flow_id]}/{d.name}": d for d in client.read_deployments()}


def test_deployments_run_on_a_worker_and_schedules_are_registered(stack: Stack, arxiv_server: ArxivStandIn, tmp_path: Path):
    pool = stack.prefect(["work-pool", "create", "paperlake", "--type", "process"])
    assert pool.returncode == 0, pool.stdout + pool.stderr
    stack.start("worker", ["worker", "start", "--pool", "paperlake"])  # starts while the deployments register
    deployed = stack.prefect(["deploy", "--all"])
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    deployments = _deployments(stack.api_url)
    assert set(deployments) == {"ingest-arxiv/ingest", "extract-metadata/extract", "evaluate-retrieval/nightly",
                                "watch-arxiv/daily", "maintain-lake/weekly", "answer-questions/answer",
                                "evaluate-safety/nightly"}  # fmt: skip
    assert {d.work_pool_name for d in deployments.values()} == {"paperlake"}
    schedules = {name: [(s.schedule.cron, s.schedule.timezone, s.active) for s in d.schedules] for name, d in deployments.items()}
    assert schedules["evaluate-retrieval/nightly"] == [("0 3 * * *", "UTC", True)]
    assert schedules["evaluate-safety/nightly"] == [("0 4 * * *", "UTC", True)]  # after the retrieval evaluation
    assert schedules["watch-arxiv/daily"] == [("30 0 * * *", "UTC", True)]
    assert schedules["maintain-lake/weekly"] == [("30 4 * * 0", "UTC", True)]
    assert schedules["ingest-arxiv/ingest"] == [] and schedules["extract-metadata/extract"] == []

    _add(arxiv_server, "2606.00001", 1, "cs.CL")
    _add(arxiv_server, "2606.00002", 2, "cs.CL")
    _run_deployment(stack, "ingest-arxiv/ingest", {"arxiv_ids": ["2606.00001", "2606.00002"]})
    data_dir = tmp_path / "data"
    assert _lake(data_dir, "SELECT paper_id, status, n_pages FROM papers ORDER BY 1") == [
        ("2606.00001", "ok", 2), ("2606.00002", "ok", 2)]  # fmt: skip

    _add(arxiv_server, "2606.00003", 3, "cs.CL")
    _add(arxiv_server, "2606.00004", 4, "math.GT")  # not in the watched category
    _add(arxiv_server, "2606.00005", 5, "cs.CL")
    _run_deployment(stack, "watch-arxiv/daily", {})  # the deployment's own parameters: cs.CL, 20, extract
    assert [row[0] for row in _lake(data_dir, "SELECT paper_id FROM papers WHERE status = 'ok' ORDER BY 1")] == [
        "2606.00001", "2606.00002", "2606.00003", "2606.00005"]  # fmt: skip
    extracted = _lake(data_dir, "SELECT DISTINCT paper_id FROM extractions WHERE status = 'ok' ORDER BY 1")
    assert extracted == [("2606.00003",), ("2606.00005",)]
    assert arxiv_server.paths("/pdf/2606.00001") == ["/pdf/2606.00001v1"]  # downloaded once, by the ingest

    daily = deployments["watch-arxiv/daily"].schedules[0].id  # as `prefect deployment schedule ls` shows it
    paused = stack.prefect(["deployment", "schedule", "pause", "watch-arxiv/daily", str(daily)])  # the README's command
    assert paused.returncode == 0, paused.stdout + paused.stderr
    assert [s.active for s in _deployments(stack.api_url)["watch-arxiv/daily"].schedules] == [False]
