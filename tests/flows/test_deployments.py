"""`prefect deploy --all` from prefect.yaml against a real Prefect server (it broke with fastapi >= 0.151)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prefect.client.orchestration import get_client

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))


def _prefect(args: list[str], api_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_API_URL": api_url, "PWD": str(ROOT)}
    return subprocess.run([PREFECT, "--no-prompt", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def test_prefect_deploy_all_registers_every_deployment(prefect_server):
    pool = _prefect(["work-pool", "create", "paperlake", "--type", "process", "--overwrite"], prefect_server)
    assert pool.returncode == 0, pool.stdout + pool.stderr
    deployed = _prefect(["deploy", "--all"], prefect_server)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    with get_client(sync_client=True) as client:
        names = {(client.read_flow(d.flow_id).name, d.name, d.work_pool_name) for d in client.read_deployments()}
    assert {("ingest-arxiv", "ingest", "paperlake"), ("extract-metadata", "extract", "paperlake")} <= names
