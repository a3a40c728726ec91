"""Running a flow inside this process (the CLI, the benchmark) instead of on a worker."""

from __future__ import annotations

from typing import Any

from prefect import Flow
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.states import State


def run_here(flow: Flow[..., Any], *args: Any, **kwargs: Any) -> State:
    """The flow's final state. Heartbeats are off for runs owned by this process.

    Measured here: Prefect's heartbeat thread sleeps in 1 s steps and the engine joins it when
    a run ends, adding up to 1 s to every run (a trivial flow: 1.07 s with, 0.08 s without).
    Heartbeats let a server notice a worker's run that died; a run in the user's own terminal
    has no worker to watch. Deployments run by a worker keep Prefect's default.
    """
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return flow(*args, return_state=True, **kwargs)
