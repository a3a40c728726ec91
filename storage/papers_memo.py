"""What a run's skip check needs of the `papers` table, kept beside the lake for exactly one snapshot.

A run asks, before anything else, which of its papers the lake already holds as asked. Answering
from the lake means opening it: loading DuckDB's two signed extensions and attaching, about 0.15 s
per process, which was most of a one-shot warm re-run (bench/ingest_before.py). The memo answers
instead when the lake's latest snapshot is still the one it was read at, which sqlite3 tells in a
millisecond: it is then the committed state itself, and any commit anywhere makes it miss. It is
written only from a read of the lake at that snapshot, whole (atomic rename) or not at all; a
missing, foreign or unreadable memo is a miss, never an error. Local to one machine, like the caches.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from paperlake.files import write_atomically

log = logging.getLogger(__name__)

# What the skip check reads (tasks/ingest.py): a paper is current when its row is `ok` at the version
# and config asked; a skipped paper's report shows its title and pages.
SKIP_COLUMNS = ("paper_id", "status", "version", "ingest_config", "n_pages", "title")
_KEY = b"paperlake.snapshot"


class PapersMemo:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "cache" / "papers-memo.arrow"

    def read(self, head: tuple[int, str], paper_ids: list[str]) -> dict[str, dict] | None:
        """These papers' rows (SKIP_COLUMNS) as of snapshot `head` (`catalog_head`); None when the memo
        is of another one."""
        try:
            with pa.memory_map(str(self.path)) as source:
                reader = pa.ipc.open_file(source)
                if (reader.schema.metadata or {}).get(_KEY) != _key(head):
                    return None
                table = reader.read_all()
            rows = table.filter(pc.is_in(table["paper_id"], pa.array(sorted(set(paper_ids)), pa.string())))
            return {row["paper_id"]: row for row in rows.to_pylist()}
        except (OSError, pa.ArrowException, KeyError) as exc:  # absent, torn by a crash, or of another layout
            if not isinstance(exc, FileNotFoundError):
                log.debug("papers memo unreadable, reading the lake instead: %s", exc)
            return None

    def write(self, head: tuple[int, str], table: pa.Table) -> None:
        """Remember `table` (every paper's SKIP_COLUMNS, read from the lake at snapshot `head`)."""
        table = table.select(list(SKIP_COLUMNS))
        table = table.replace_schema_metadata({_KEY: _key(head)})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        write_atomically(self.path, [sink.getvalue().to_pybytes()])


def _key(head: tuple[int, str]) -> bytes:
    return f"{head[0]}@{head[1]}".encode()
