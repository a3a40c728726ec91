"""Every deployment in prefect.yaml points at a real flow (sqlite-utils' test_docs style)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml
from prefect import Flow

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENTS = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_entrypoint_resolves_to_a_flow(deployment):
    path, function = deployment["entrypoint"].split(":")
    assert (ROOT / path).is_file()
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    flow = getattr(module, function)
    assert isinstance(flow, Flow)
    assert deployment["work_pool"]["name"] == "paperlake"
    parameters = set(flow.parameters.properties)
    assert set(deployment.get("parameters", {})) <= parameters


def test_every_flow_module_is_deployed():
    deployed = {d["entrypoint"].split(":")[0] for d in DEPLOYMENTS}
    flows = {f"flows/{p.name}" for p in (ROOT / "flows").glob("*.py") if p.name != "__init__.py"}
    assert flows == deployed
