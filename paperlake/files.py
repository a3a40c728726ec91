"""Files written whole or not at all, and their hashes: the one copy of each helper."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable; best effort where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(dest: Path, chunks: Iterable[bytes]) -> tuple[str, int]:
    """Stream into a temporary file beside `dest` (named `.<dest>.*.part`), fsync, rename over `dest`.

    `dest` is always either absent, its old content or the whole new content; an exception (from
    the chunks too) leaves nothing behind. Returns (sha256 hex, size)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as tmp:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                tmp.write(chunk)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, dest)
        fsync_dir(dest.parent)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size
