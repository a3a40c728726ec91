"""An ingest in a process of its own, for the kill and concurrency tests: `python -m tests.ingest_child SPEC`.

SPEC is JSON: {"data_dir": str, "pdfs": [str], "child_sizes": [int], "parent_size": int, "force": bool,
"kill_at": [event, n] or null, "slow_commit_s": float, "wait_for_go": bool}. Faults go in through the storage seam
(`ingest_context(settings).lake.hooks`): with `kill_at`, the process SIGKILLs itself the n-th time the
lake fires `event` ("begin", "staged:<table>", "before_commit", "committed"); `slow_commit_s` holds
every commit open that long before COMMIT, as a slow disk would (it widens the window two writers share).

Prints `ready` once set up (imports, embedder and parser forkserver warm, so what follows is the papers'
work), waits for a line on stdin with `wait_for_go` (so two processes start their papers together), then
prints one JSON line per paper ({"paper_id", "status", "reason"}), flushed: a parent that kills this
process knows what finished before.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path


def _hook(kill_at: list | None, slow_commit_s: float) -> Callable[[str], None]:
    seen = 0

    def hook(event: str) -> None:
        nonlocal seen
        if event == "before_commit" and slow_commit_s:
            time.sleep(slow_commit_s)
        if kill_at and event == kill_at[0]:
            seen += 1
            if seen == kill_at[1]:
                os.kill(os.getpid(), signal.SIGKILL)

    return hook


def main(spec: dict) -> None:
    from paperlake.ids import resolve_refs
    from paperlake.isolation import start_forkserver
    from paperlake.settings import Settings
    from tasks.chunk import INGEST_PRELOAD, ChunkingOptions
    from tasks.ingest import IngestOptions, ingest_context, ingest_paper

    settings = Settings(data_dir=Path(spec["data_dir"]), arxiv_url="http://127.0.0.1:9", http_max_attempts=1)
    chunking = ChunkingOptions(spec.get("parent_size", 1024), tuple(spec.get("child_sizes", (128, 256, 512))), 20)
    options = IngestOptions(chunking=chunking, force=spec.get("force", False))
    ctx = ingest_context(settings)
    ctx.lake.hooks.append(_hook(spec.get("kill_at"), spec.get("slow_commit_s", 0.0)))
    ctx.embedder  # noqa: B018 - loaded now, as the parser's forkserver below: a kill after "ready" lands in papers' work
    start_forkserver(INGEST_PRELOAD)
    sources, _ = resolve_refs(spec["pdfs"])
    print("ready", flush=True)
    if spec.get("wait_for_go"):
        sys.stdin.readline()
    for source in sources:
        report = ingest_paper(source, None, options, settings)
        print(json.dumps({"paper_id": report.paper_id, "status": report.status, "reason": report.reason}), flush=True)


if __name__ == "__main__":  # guarded: the parser's forkserver imports this module as __mp_main__
    main(json.loads(sys.argv[1]))
