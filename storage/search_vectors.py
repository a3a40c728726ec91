"""The build's vectors: copied from the previous build for passages whose embedding did not change.

Reading every vector from the lake (a join of nodes and embeddings, a million 256-d lists sorted by
paper) was two thirds of a rebuild at a million nodes. After a change of a few papers, the previous
build already holds nearly all of them. A vector is taken from there when the lake's change feed
(`ducklake_table_changes`, between the previous build's snapshot and this one) shows no insert or
delete of that node's embedding row for this model; every other vector is read from the lake, in the
build's own read transaction. When the feed is gone (snapshots expired by maintenance) or the change is
large, every vector is read as before. Either way the build writes the same vectors.npy
(tests/storage/test_search_build.py).
"""

from __future__ import annotations

import logging

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storage.lakehouse import ALIAS
from storage.search_index import SearchIndex

log = logging.getLogger(__name__)
MAX_CHANGED_SHARE = 0.25  # past this, reading every vector once is cheaper than looking most of them up
_FRESH = "_paperlake_fresh_ids"


def list_vectors(column: pa.Array | pa.ChunkedArray, dim: int) -> np.ndarray:
    """A list<float> column as a [rows, dim] float32 view; every list must hold exactly `dim` values."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    if column.null_count or (lengths != dim).any():
        raise ValueError(f"a stored vector is missing or not {dim}-dimensional")
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, dim)


class VectorReuse:
    """Which vectors the previous build can give (`active`), and the rest read from the lake at the end."""

    def __init__(self, previous: SearchIndex | None, known: dict[str, int], cur: duckdb.DuckDBPyConnection,
                 model: str, snapshot: int, dim: int) -> None:  # fmt: skip
        self.stale: np.ndarray | None = None  # per row of the previous build: its vector changed since (None: inactive)
        self.reused = 0
        self._previous = previous
        self._pending: list[tuple[np.ndarray, pa.Array]] = []  # (build rows, node ids) to read from the lake
        if previous is None or previous.meta.dim != dim or previous.meta.n_rows == 0:
            return
        try:
            recorded = previous.meta.snapshot_time
            if not recorded or snapshot_time(cur, previous.meta.snapshot_id) != recorded:
                return  # unrecorded, expired by maintenance, or another lake since: no feed to trust
            changed = _changed_nodes(cur, model, previous.meta.snapshot_id, snapshot)
        except duckdb.Error as exc:
            log.info("search index: reading every vector (no change feed since snapshot %d: %s)", previous.meta.snapshot_id, exc)
            return
        if len(changed) > MAX_CHANGED_SHARE * previous.meta.n_rows:
            return
        self.stale = np.zeros(previous.meta.n_rows, bool)
        self.stale[[known[node_id] for node_id in changed if node_id in known]] = True  # known: node id -> previous row

    @property
    def active(self) -> bool:
        return self.stale is not None

    def fill(self, out: np.ndarray, first_row: int, node_ids: pa.Array, previous_rows: np.ndarray) -> None:
        """Copy the vectors the previous build holds unchanged into `out` (the build's rows from
        `first_row`; `previous_rows`: each passage's row there, -1 for none); remember the others."""
        assert self.stale is not None
        at = previous_rows
        hit = at >= 0
        hit[hit] = ~self.stale[at[hit]]
        if hit.any():
            out[first_row + np.flatnonzero(hit)] = self._previous.vectors[at[hit]]
            self.reused += int(hit.sum())
        if not hit.all():
            self._pending.append((first_row + np.flatnonzero(~hit), node_ids.filter(pa.array(~hit))))

    def finish(self, out: np.ndarray, cur: duckdb.DuckDBPyConnection, model: str, dim: int) -> None:
        """Read the remembered vectors from the lake, in the caller's read transaction."""
        if not self._pending:
            return
        rows = np.concatenate([r for r, _ in self._pending])
        ids = pa.concat_arrays([i for _, i in self._pending])
        cur.register(_FRESH, pa.table({"node_id": ids}))
        try:
            found = cur.execute(f"SELECT node_id, embedding FROM embeddings WHERE model = $model AND node_id IN "
                                f"(SELECT node_id FROM {_FRESH})", {"model": model}).to_arrow_table()  # fmt: skip
        finally:
            cur.unregister(_FRESH)
        where = pc.index_in(ids, value_set=found.column(0))
        if where.null_count:
            raise ValueError("a passage's vector vanished from the lake during the build")
        out[rows] = list_vectors(found.column(1), dim)[where.to_numpy(zero_copy_only=False)]


def snapshot_time(cur: duckdb.DuckDBPyConnection, snapshot: int) -> str:
    """When the snapshot was committed ('' when it no longer exists): with its id, it names a lake state."""
    found = cur.execute(f"SELECT snapshot_time FROM ducklake_snapshots('{ALIAS}') WHERE snapshot_id = ?", [snapshot]).fetchone()
    return str(found[0]) if found else ""


def _changed_nodes(cur: duckdb.DuckDBPyConnection, model: str, since: int, until: int) -> set[str]:
    """Node ids whose embedding row of `model` was inserted or deleted in snapshots (since, until]."""
    if until <= since:
        return set()
    rows = cur.execute(f"SELECT DISTINCT node_id FROM ducklake_table_changes('{ALIAS}', 'main', 'embeddings', $a, $b) "
                       "WHERE model = $model", {"a": since + 1, "b": until, "model": model}).fetchall()  # fmt: skip
    return {row[0] for row in rows}
