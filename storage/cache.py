"""A persistent content-keyed cache in SQLite, for embeddings and LLM extractions.

Keys are content hashes (text sha256, plus model and prompt version in the namespace), so an
entry stays valid across runs, processes and machines' restarts. SQLite gives us locking
between concurrent ingests and atomic commits for free: a crash loses at most the batch
being written, never corrupts earlier entries. A damaged file is moved aside and rebuilt:
a cache may be lost, never trusted when broken.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID
"""
_BATCH = 500  # stays well under SQLite's bound-parameter limit


class ContentCache:
    """namespace + key -> bytes. Thread-safe; safe across processes sharing the file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.OperationalError:
            raise  # locked, unreadable directory...: a healthy shared cache must not be moved aside
        except sqlite3.DatabaseError as exc:  # "file is not a database", "disk image is malformed"
            suffix = f".broken-{int(time.time())}"
            log.warning("cache %s is damaged (%s); moved aside (%s) and rebuilt", self.path, exc, suffix)
            for part in ("", "-wal", "-shm"):  # a stale journal must not be replayed into the new file
                sidecar = self.path.with_name(self.path.name + part)
                if sidecar.exists():
                    sidecar.replace(sidecar.with_name(sidecar.name + suffix))
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        conn.execute("SELECT count(*) FROM entries LIMIT 1").fetchone()  # fails now if the file is damaged
        return conn

    def get_many(self, namespace: str, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, bytes] = {}
        with self._lock:
            for start in range(0, len(wanted), _BATCH):
                batch = wanted[start : start + _BATCH]
                marks = ",".join("?" * len(batch))
                rows = self._conn.execute(
                    f"SELECT key, value FROM entries WHERE namespace = ? AND key IN ({marks})",
                    [namespace, *batch],
                )
                found.update(rows)
        return found

    def put_many(self, namespace: str, items: Mapping[str, bytes]) -> None:
        now = time.time()
        rows = [(namespace, key, value, now) for key, value in items.items()]
        if not rows:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)", rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def count(self, namespace: str | None = None) -> int:
        with self._lock:
            if namespace is None:
                return self._conn.execute("SELECT count(*) FROM entries").fetchone()[0]
            query = "SELECT count(*) FROM entries WHERE namespace = ?"
            return self._conn.execute(query, [namespace]).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
