"""Durable, all-or-nothing file writes: fsync helpers and the temporary-file-and-rename writer.

Every small file pastegen writes (previews, combined files) goes through :func:`atomic_path`
or :func:`atomic_write_bytes`, which follow one discipline:

1. write to a new temporary file in the destination's folder (same file system, so the rename
   is atomic), created with the permissions of an ordinary new file (``0o666`` less the umask);
2. flush and ``fsync`` the temporary file;
3. ``os.replace`` it onto the destination;
4. ``fsync`` the folder, so the rename itself survives a power cut.

On any failure before the rename, ``KeyboardInterrupt`` included, the temporary file is
removed and the destination is untouched: a reader sees the old file or the new one, never a
part of one. The tuple files' ``.partial`` protocol (:class:`pastegen.store.TupleWriter`, which
can resume) uses :func:`fsync_path` and :func:`fsync_dir` directly.

pastenet uses these helpers too (checkpoints, exported weights, run records, written images).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["TEMP_SUFFIX", "atomic_path", "atomic_write_bytes", "atomic_write_text", "fsync_dir", "fsync_path"]

#: Suffix of the temporary files of :func:`atomic_path` (``.<name>.<random>.tmp`` beside the target).
TEMP_SUFFIX = ".tmp"


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


def _create_temp(target: Path, suffix: str) -> tuple[int, Path]:
    """A new, empty file beside ``target`` (``O_EXCL``, mode ``0o666`` less the umask) and its fd."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{suffix}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - a 32-bit name collision
            continue


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = TEMP_SUFFIX) -> Iterator[Path]:
    """Write a file under a temporary name and move it into place only if the block succeeds.

    Yields the path of a new, empty temporary file in ``path``'s folder for the caller to write
    (with any library: ``cv2.imwrite``, ``h5py.File(tmp, "w")``, ...; it may be replaced, as
    long as it is closed when the block ends). On a clean exit the file is fsynced, renamed onto
    ``path`` with :func:`os.replace` and the folder fsynced; on any exception (``KeyboardInterrupt``
    included) it is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : path
        The destination; its folder must exist.
    suffix : str
        Ending of the temporary name (e.g. ``".png"`` for a writer that picks the format from
        the name).

    Yields
    ------
    Path
        The temporary file.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "note.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (folder / "note.txt").read_text(), [p.name for p in folder.iterdir()]
    ('hello', ['note.txt'])
    """
    target = Path(path)
    fd, tmp = _create_temp(target, suffix)
    try:
        os.close(fd)
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically and durably (see the module docstring).

    Returns
    -------
    Path
        ``path``.
    """
    target = Path(path)
    fd, tmp = _create_temp(target, TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and durably (no newline translation)."""
    return atomic_write_bytes(path, text.encode(encoding))
