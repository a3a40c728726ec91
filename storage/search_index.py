"""The derived search index beside the lake: data/index/<model>/<build>/, rebuilt when the lake changes.

Layout of one build (every file memory-mapped on open; no Python object per stored vector):
  vectors.npy    float32 [n, dim], rows grouped by kind: [parents][children][summaries + questions],
                 each group sorted by paper, so every strategy is one or two contiguous matmuls
  paper.npy      int32 [n]  row -> paper number (row of papers.arrow)
  parent.npy     int32 [n]  row -> its parent's row (a parent points at itself)
  kind.npy       int8  [n]  KINDS index
  nodes.arrow    node_id [n]; parents.arrow: text, page_start, page_end [n_parents]; papers.arrow: paper_id, title
  vocab.npy      sorted tokens, vocab_ids.npy their ids; bm25_parents/, bm25_children/ (bm25s)
  tokens_<group>.npy, token_lengths_<group>.npy  each parent's and child's token ids: the next build reuses them
  meta.json      model, dim, counts, lake snapshot and last relevant change it was built from

A build is written to a temporary folder, renamed into place, then named in CURRENT (atomic replace):
a reader sees a whole build or the previous one. A file lock keeps two processes from building at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
from filelock import FileLock

from storage.search_text import bm25_scores, load_bm25, tokenize

FORMAT = 3  # bump whenever what a build holds changes (layout, tokenizer): older builds are rebuilt
KINDS = ("parent", "child", "summary", "question")
INDEXED_TABLES = ("nodes", "embeddings", "papers")  # what the index is built from: other tables never stale it
_KEEP_BUILDS = 2  # the current build and the one before: a reader that just read CURRENT may still open it


class IndexUnreadable(Exception):
    """A build that is missing, partial or corrupt: rebuilt, never a crash."""


@dataclass(frozen=True)
class Meta:
    model: str
    dim: int
    n_parents: int
    n_children: int
    n_derived: int
    snapshot_id: int
    lake_change: int
    other_models: tuple[str, ...] = ()
    reused_passages: int = 0  # passages whose tokens came from the previous build (storage/search_tokens.py)
    reused_vectors: int = 0  # vectors copied from the previous build (storage/search_vectors.py)
    snapshot_time: str = ""  # when `snapshot_id` was committed: with the id, it names one state of one lake
    format: int = FORMAT

    @property
    def n_rows(self) -> int:
        return self.n_parents + self.n_children + self.n_derived


def index_root(data_dir: Path, model: str) -> Path:
    """One folder per embedding model: a readable name plus a digest, so `a/b` and `a_b` never share one."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model)[:60]
    return Path(data_dir) / "index" / f"{readable}-{hashlib.sha256(model.encode()).hexdigest()[:8]}"


def _read_table(path: Path) -> pa.Table:
    return ipc.open_file(pa.memory_map(str(path))).read_all()  # zero-copy: pages load as they are read


class SearchIndex:
    """One build, opened read-only: arrays for ranking, Arrow tables for the few rows a result shows."""

    def __init__(self, folder: Path) -> None:
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            meta["other_models"] = tuple(meta.get("other_models", ()))
            self.meta = Meta(**meta)
            if self.meta.format != FORMAT:
                raise IndexUnreadable(f"format {self.meta.format}")
            self.folder = folder
            self._load_arrays(folder)
        except IndexUnreadable:
            raise
        except Exception as exc:  # any unreadable piece means: build again
            raise IndexUnreadable(f"{folder}: {type(exc).__name__}: {exc}") from exc

    def _load_arrays(self, folder: Path) -> None:
        m = self.meta
        self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        self.paper = np.load(folder / "paper.npy", mmap_mode="r")
        self.parent = np.load(folder / "parent.npy", mmap_mode="r")
        self.kind = np.load(folder / "kind.npy", mmap_mode="r")
        self.node_ids = _read_table(folder / "nodes.arrow").column("node_id")
        self.parents = _read_table(folder / "parents.arrow")
        self.papers = _read_table(folder / "papers.arrow")
        self.vocab = np.load(folder / "vocab.npy", mmap_mode="r")
        self.vocab_ids = np.load(folder / "vocab_ids.npy", mmap_mode="r")
        shapes = [self.vectors.shape[0], len(self.paper), len(self.parent), len(self.kind), len(self.node_ids)]
        if shapes != [m.n_rows] * 5 or self.parents.num_rows != m.n_parents or (m.n_rows and self.vectors.shape[1] != m.dim):
            raise IndexUnreadable(f"{folder}: sizes {shapes} do not match meta.json")
        self._bm25: dict[str, object] = {}
        self.paper_numbers = {pid: i for i, pid in enumerate(self.papers.column("paper_id").to_pylist())}

    # ---- lexical ------------------------------------------------------------------------------
    def token_ids(self, text: str) -> list[int]:
        """Ids of the query's tokens that occur in the index (binary search in the sorted vocabulary)."""
        tokens = tokenize(text)
        if not tokens or len(self.vocab) == 0:
            return []
        wanted = np.asarray(tokens, dtype=self.vocab.dtype)
        at = np.minimum(np.searchsorted(self.vocab, wanted), len(self.vocab) - 1)
        found = self.vocab[at] == wanted
        return [int(i) for i in self.vocab_ids[at[found]]]

    def bm25(self, which: str, token_ids: list[int]) -> np.ndarray:
        """BM25 scores of every parent ("parents") or every child ("children") for a query."""
        if which not in self._bm25:
            self._bm25[which] = load_bm25(self.folder / f"bm25_{which}")
        return bm25_scores(self._bm25[which], token_ids)


# ---- the folder of builds ---------------------------------------------------------------------
def open_current(root: Path) -> SearchIndex | None:
    """The build CURRENT names, or None when there is none or it cannot be read."""
    try:
        name = (root / "CURRENT").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    try:
        return SearchIndex(root / name) if name else None
    except IndexUnreadable:
        return None


def build_lock(root: Path) -> FileLock:
    root.mkdir(parents=True, exist_ok=True)
    return FileLock(root / ".build.lock", timeout=3600)


def new_build_folder(root: Path) -> Path:
    folder = root / f".tmp-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    return folder


def publish(root: Path, tmp: Path, meta: Meta) -> Path:
    """Move a finished build into place and point CURRENT at it; drop builds older than the previous one."""
    (tmp / "meta.json").write_text(json.dumps(meta.__dict__), encoding="utf-8")  # last: its presence means whole
    final = root / f"build-{meta.snapshot_id}-{uuid.uuid4().hex[:8]}"
    os.rename(tmp, final)
    pointer = root / f".CURRENT-{uuid.uuid4().hex}"
    pointer.write_text(final.name, encoding="utf-8")
    os.replace(pointer, root / "CURRENT")
    builds = sorted((p for p in root.glob("build-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in [p for p in builds if p != final][: max(0, len(builds) - _KEEP_BUILDS)]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".tmp-*"):  # a killed build's leftovers (we hold the build lock)
        if stale != tmp:
            shutil.rmtree(stale, ignore_errors=True)
    return final
