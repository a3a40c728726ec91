"""The one-shot CLI's overhead both ways, measured in the same run.

A warm `paperlake ingest` of two papers already in the lake (nothing to redo: what is left is the
CLI's own cost) with PREFECT_API_URL set to a running `prefect server start`, and with it unset
(Prefect's temporary server starts in every process); medians of RUNS interleaved runs, as a ratio.
Then how quickly the CLI's one-line failures come: nothing valid to ingest (Prefect never imported),
a PREFECT_API_URL nobody answers, an unwritable PREFECT_HOME. The machine's load is printed too:
on a shared machine every figure grows with it, the ratio much less.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.pdfs import make_pdf, sample_pages

RUNS = 5
PAPERLAKE = str(Path(sys.executable).with_name("paperlake"))
SERVER_START_S = 300  # a fresh server migrates its database first; slow on a loaded machine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A real `prefect server start` in its own PREFECT_HOME; yields its API URL."""
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    cmd = [str(Path(sys.executable).with_name("prefect")), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while not _answers(url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server start did not answer at {url}")
            time.sleep(0.5)
        yield url
    finally:
        server.send_signal(signal.SIGINT)  # its clean shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def timed(args: list[str], env: dict[str, str], expect: int, cpu: list[float] | None = None) -> float:
    """Wall seconds of one `paperlake` process; its CPU seconds (user + system) appended to `cpu`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([PAPERLAKE, *args], env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if result.returncode != expect:
        raise RuntimeError(f"paperlake {' '.join(args)} exited {result.returncode}, not {expect}: {result.stderr[-2000:]}")
    return seconds


def _envs(root: Path, api_url: str) -> tuple[dict[str, str], dict[str, str]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    base.update(PAPERLAKE_DATA_DIR=str(root / "data"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return {**base, "PREFECT_API_URL": api_url}, {**base, "PREFECT_HOME": str(root / "cli-home")}


def overhead(root: Path, api_url: str, pdfs: list[str]) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) of a warm ingest with each kind of server, runs interleaved so load hits both alike.

    CPU counts the temporary server's process too (a child of the command, waited for)."""
    envs = dict(zip(("running", "temporary"), _envs(root, api_url), strict=True))
    for env in envs.values():  # cold: the papers land, the temporary server's database is created
        timed(["ingest", *pdfs], env, 0)
    wall: dict[str, list[float]] = {kind: [] for kind in envs}
    cpu: dict[str, list[float]] = {kind: [] for kind in envs}
    for _ in range(RUNS):
        for kind, env in envs.items():
            wall[kind].append(timed(["ingest", *pdfs], env, 0, cpu[kind]))
    return {kind: (statistics.median(wall[kind]), statistics.median(cpu[kind])) for kind in envs}


def failures(root: Path) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds to each one-line failure (exit 2): CPU time hardly grows with the machine's load."""
    _, env = _envs(root / "failing", "")
    blocker = root / "a-file"
    blocker.write_text("PREFECT_HOME cannot be made under a file")
    cases = {
        "nothing valid to ingest (Prefect not imported)": (["ingest", "not-an-id"], env),
        "PREFECT_API_URL nobody answers": (["ingest", *pdfs_of(root)], {**env, "PREFECT_API_URL": f"http://127.0.0.1:{_free_port()}/api"}),
        "PREFECT_HOME unwritable": (["ingest", *pdfs_of(root)], {**env, "PREFECT_HOME": str(blocker / "prefect")}),
    }  # fmt: skip
    medians = {}
    for name, (args, case_env) in cases.items():
        cpu: list[float] = []
        wall = statistics.median(timed(args, case_env, 2, cpu) for _ in range(3))
        medians[name] = (wall, statistics.median(cpu))
    return medians


def pdfs_of(root: Path) -> list[str]:
    paths = []
    for i in range(2):
        path = root / f"paper{i}.pdf"
        if not path.exists():
            path.write_bytes(make_pdf(sample_pages(2 + i), title=f"Bench paper {i}"))
        paths.append(str(path))
    return paths


def python_start_s() -> float:
    """The machine's yardstick: a bare interpreter start, measured now."""
    return statistics.median(_time_python() for _ in range(3))


def _time_python() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="paperlake-bench-cli-") as tmp:
        root = Path(tmp)
        pdfs = pdfs_of(root)
        load = os.getloadavg()[0]
        with prefect_server(root / "server-home") as api_url:
            warm = overhead(root, api_url, pdfs)
        failed = failures(root)
    (server_s, server_cpu), (temporary_s, temporary_cpu) = warm["running"], warm["temporary"]
    print(f"bench/cli: warm `paperlake ingest` of {len(pdfs)} papers already in the lake, median of {RUNS}, wall (CPU) "
          f"(load {load:.1f}-{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; bare python start {python_start_s():.2f} s)")  # fmt: skip
    print(f"  PREFECT_API_URL set (running `prefect server start`): {server_s:.2f} s ({server_cpu:.2f} s CPU)")
    print(f"  PREFECT_API_URL unset (Prefect's temporary server):   {temporary_s:.2f} s ({temporary_cpu:.2f} s CPU) "
          f"= {temporary_s / server_s:.1f}x the running server's (+{temporary_s - server_s:.1f} s per command)")  # fmt: skip
    print("  one-line failures (exit 2), median of 3, wall (CPU):")
    for name, (wall, cpu) in failed.items():
        print(f"    {name}: {wall:.2f} s ({cpu:.2f} s CPU)")


if __name__ == "__main__":
    main()
