"""The CLI's Prefect API, as a user meets it: bad input, a server that does not answer, a temporary server
that cannot start. Real `paperlake` processes; each failure is one line naming the variable, exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.pdfs import make_pdf, sample_pages

PAPERLAKE = str(Path(sys.executable).with_name("paperlake"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}  # no server unless given
    return {**env, "PAPERLAKE_DATA_DIR": str(tmp_path / "data"), **extra}


def _ingest(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(make_pdf(sample_pages(1), title="Paper"))
    return subprocess.run([PAPERLAKE, "ingest", str(pdf)], env=env, capture_output=True, text=True, timeout=300)


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_nothing_valid_to_ingest_fails_without_prefect_or_a_lake(tmp_path):
    script = (
        "import sys; from cli.main import main; code = main(['ingest', 'not-an-id', sys.argv[1]]);"
        "print('PREFECT' if 'prefect' in sys.modules else 'NO PREFECT'); sys.exit(code)"
    )
    missing = str(tmp_path / "missing.pdf")
    result = subprocess.run([sys.executable, "-c", script, missing], env=_env(tmp_path), capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout.strip() == "NO PREFECT"
    line = _one_line(result.stderr)
    assert "nothing to ingest" in line and "not-an-id: invalid_id" in line and f"{missing}: invalid_id" in line
    assert not (tmp_path / "data").exists()


def test_prefect_api_url_that_does_not_answer_is_one_line_naming_it(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/api"
    result = _ingest(tmp_path, _env(tmp_path, PREFECT_API_URL=url))
    assert result.returncode == 2
    assert f"PREFECT_API_URL={url} does not answer" in _one_line(result.stderr)
    assert not (tmp_path / "data").exists()


def test_prefect_api_url_of_another_server_is_named(tmp_path, arxiv_server):
    result = _ingest(tmp_path, _env(tmp_path, PREFECT_API_URL=arxiv_server.url))
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "PREFECT_API_URL" in line and "not as a Prefect API" in line


def test_unwritable_prefect_home_is_one_line_naming_the_variables(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("PREFECT_HOME cannot be made under a file, whoever runs the test (root included)")
    result = _ingest(tmp_path, _env(tmp_path, PREFECT_HOME=str(blocker / "prefect")))
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert f"PREFECT_HOME={blocker / 'prefect'} is not writable" in line and "PREFECT_API_URL" in line
    assert not (tmp_path / "data").exists()


def test_temporary_server_that_does_not_start_in_the_users_allowance_is_one_line(tmp_path):
    # The user's own allowance wins over the CLI's longer default; 0 s: no server can answer in time.
    env = _env(tmp_path, PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0")
    result = _ingest(tmp_path, env)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "temporary server" in line and "did not answer within 0 s" in line
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in line and "PREFECT_API_URL" in line
    assert not (tmp_path / "data").exists()


def test_two_commands_at_once_each_start_a_temporary_server_on_one_prefect_home(tmp_path):
    # Their servers share PREFECT_HOME's SQLite database; starting both at once used to time out or
    # report "database is locked" on a loaded machine.
    env = _env(tmp_path, PREFECT_HOME=str(tmp_path / "prefect"))
    pdfs = []
    for i in range(2):
        pdfs.append(tmp_path / f"paper{i}.pdf")
        pdfs[-1].write_bytes(make_pdf(sample_pages(1 + i), title=f"Paper {i}"))
    runs = [subprocess.Popen([PAPERLAKE, "ingest", str(pdf)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for pdf in pdfs]  # fmt: skip
    outputs = [run.communicate(timeout=400) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all("1 papers in the lake" in out for out, _ in outputs)
    assert (tmp_path / "prefect" / "prefect.db").exists()  # the runs are on record for `prefect server start`
