"""Durable writes: fsync a file or a directory entry (shared by pastegen's store and pastenet)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_path", "fsync_dir"]


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's data and metadata to disk."""
    fd = os.open(Path(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory's entries (a rename into it) to disk; a no-op where that is unsupported."""
    try:
        fd = os.open(Path(path), os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
