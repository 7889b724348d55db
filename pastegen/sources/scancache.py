"""A persistent cache of scan outcomes, so that scanning unchanged files again decodes nothing.

:func:`~pastegen.sources.scan_sources` decodes, checks and hashes every file, which costs seconds
for a few hundred photos; :class:`ScanCache` remembers each file's outcome (the
:meth:`SourceImage.to_dict` or :meth:`SkippedFile.to_dict` record) in a small SQLite database, so a
later scan of the same, unchanged files only ``stat``\\ s them.

What makes an entry valid
-------------------------
An entry is found by the file's real path (:func:`os.path.realpath`) and a *settings key*
(:func:`settings_key`): a hash of everything besides the file that decides the outcome,
``max_pixels``, ``min_size``, a stable description of the ``size_check``
(:func:`describe_callable`), Pillow's version and :data:`DECODER_VERSION`. It is used only while
the file's stat identity ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` is the one it
was stored with (any write, rename over it or ``chmod`` changes the identity), and for at most
:data:`MAX_AGE_DAYS` days. A scan stores an outcome only when:

- the identity taken before reading the file equals the one taken after scanning it;
- the file was last modified more than :data:`RACY_WINDOW_NS` before the scan began (on a
  file system with coarse timestamps, a write in the same tick would go unnoticed otherwise);
- the outcome depends on the bytes alone: a plain :class:`~pastegen.errors.ImageError` (the file
  cannot be read: permissions, I/O errors) is never stored, nor is anything about a path that is
  not a regular file.

A ``size_check`` that cannot be described stably (a lambda, a closure, a bound method, a function
defined in ``__main__``, a ``functools.partial`` holding other objects than plain values and
dataclasses of them) disables the cache for that scan. The description names the code, not what
it does: pastegen's own checks are covered by :data:`DECODER_VERSION`; a caller that changes its
own ``size_check`` function should scan with ``cache=False`` once, or use another cache file.

Location, concurrency, failures, size
-------------------------------------
The file is ``$PASTEGEN_CACHE_DIR/scan-cache.sqlite3``, else
``$XDG_CACHE_HOME/pastegen/scan-cache.sqlite3``, else ``~/.cache/pastegen/scan-cache.sqlite3``
(:func:`default_cache_path`). Several processes may use it at once: it is opened in WAL mode with a
busy timeout of :data:`BUSY_TIMEOUT_S`, and each scan reads its entries in one query per file and
writes its new ones in one transaction. The cache never fails a scan: a file that is locked for
too long, corrupt, not a database, read-only or in a folder that cannot be created gives at most
one :class:`~pastegen.errors.ScanCacheWarning` per scan, and the scan goes on without it (a
read-only cache still answers lookups). Delete the file to start afresh; it is only a cache.

Every write also prunes: entries stored more than :data:`MAX_AGE_DAYS` days ago are deleted (so
entries of moved or deleted photos and of older pastegen versions go away), then the oldest beyond
:data:`MAX_ROWS` rows. A file has one entry per settings key; rescanning it replaces the entry.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import numbers
import os
import sqlite3
import stat
import sys
import time
import types
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import ScanCacheWarning, SpecError, first_line

__all__ = [
    "CACHE_DIR_ENV",
    "CACHE_FILE_NAME",
    "SCAN_RULES_REVISION",
    "DECODER_VERSION",
    "MAX_AGE_DAYS",
    "MAX_ROWS",
    "RACY_WINDOW_NS",
    "BUSY_TIMEOUT_S",
    "CacheOption",
    "FileKey",
    "ScanCache",
    "default_cache_path",
    "cache_path",
    "describe_callable",
    "settings_key",
    "file_key",
    "open_scan_cache",
]

#: Environment variable naming the folder of the cache file (before ``$XDG_CACHE_HOME``).
CACHE_DIR_ENV = "PASTEGEN_CACHE_DIR"
#: Name of the cache file in that folder.
CACHE_FILE_NAME = "scan-cache.sqlite3"
#: Bump whenever decoding, the JPEG check or any other rule that decides a scan outcome changes
#: without a new pastegen version; every entry stored before becomes unused (and is pruned later).
SCAN_RULES_REVISION = 1
#: Part of every settings key: pastegen's version and :data:`SCAN_RULES_REVISION`.
DECODER_VERSION = f"pastegen-{__version__}/scan-rules-{SCAN_RULES_REVISION}"
#: Entries older than this (days since stored) are not used and are deleted on the next write.
MAX_AGE_DAYS = 60
#: After deleting old entries, a write deletes the oldest beyond this many rows (a few hundred
#: bytes each).
MAX_ROWS = 200_000
#: A file whose modification time is less than this long (ns) before the scan began is scanned but
#: not stored (a second write within one timestamp tick would not change its identity).
RACY_WINDOW_NS = 2_000_000_000
#: How long (s) to wait for another process's lock before giving up on the cache for this scan.
BUSY_TIMEOUT_S = 5.0

_TABLE = "scan_v1"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
    " realpath TEXT NOT NULL, settings TEXT NOT NULL, identity TEXT NOT NULL,"
    " outcome TEXT NOT NULL, stored INTEGER NOT NULL, PRIMARY KEY (realpath, settings))",
    f"CREATE INDEX IF NOT EXISTS {_TABLE}_stored ON {_TABLE} (stored)",
)

#: The ``cache`` argument of :func:`~pastegen.sources.scan_sources`: ``True`` (the user cache),
#: ``False`` (none) or the path of a cache file.
CacheOption = bool | str | os.PathLike[str]


def default_cache_path() -> Path:
    """The user's cache file.

    Returns
    -------
    pathlib.Path
        ``$PASTEGEN_CACHE_DIR/scan-cache.sqlite3`` when that variable is set and not empty, else
        ``$XDG_CACHE_HOME/pastegen/scan-cache.sqlite3`` when that is an absolute path (the XDG
        specification ignores relative ones), else ``~/.cache/pastegen/scan-cache.sqlite3``.

    Raises
    ------
    RuntimeError
        None of the variables is set and the home folder cannot be determined.
    """
    folder = os.environ.get(CACHE_DIR_ENV)
    if folder:
        return Path(folder) / CACHE_FILE_NAME
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return root / "pastegen" / CACHE_FILE_NAME


def cache_path(cache: Any) -> Path | None:
    """The cache file that a ``cache`` argument selects.

    Parameters
    ----------
    cache : bool or path-like
        ``True``: :func:`default_cache_path`; ``False``: no cache; a path: that file.

    Returns
    -------
    pathlib.Path or None
        ``None`` for ``False``.

    Raises
    ------
    SpecError
        ``cache`` is neither a bool nor a path.
    RuntimeError
        ``True`` and the home folder cannot be determined (see :func:`default_cache_path`).
    """
    if cache is True:
        return default_cache_path()
    if cache is False:
        return None
    if isinstance(cache, (str, os.PathLike)):
        path = os.fspath(cache)
        if isinstance(path, str) and path:
            return Path(path)
    raise SpecError(f"cache must be True, False or the path of a cache file, got {cache!r}")


# --- settings keys ------------------------------------------------------------------------------


class _Undescribable(Exception):
    """A value without a stable description (internal)."""


def _qualified_name(obj: Any) -> str:
    """``module:qualname`` of a module-level function or class that the name finds again."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname or module == "__main__":
        raise _Undescribable
    target: Any = sys.modules.get(module)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if target is not obj:
        raise _Undescribable
    return f"{module}:{qualname}"


def _describe(value: Any) -> Any:
    """A JSON-able, type-tagged description of ``value`` that is equal across processes."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return {"float": repr(float(value))}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, enum.Enum):
        return {"enum": _qualified_name(type(value)), "name": value.name}
    if type(value) in (tuple, list):
        return {type(value).__name__: [_describe(v) for v in value]}
    if type(value) is dict:
        if not all(isinstance(k, str) for k in value):
            raise _Undescribable
        return {"dict": {k: _describe(value[k]) for k in sorted(value)}}
    if type(value) is functools.partial:
        return {
            "partial": _describe(value.func),
            "args": [_describe(v) for v in value.args],
            "keywords": {k: _describe(value.keywords[k]) for k in sorted(value.keywords)},
        }
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type)):
        return {"callable": _qualified_name(value)}
    if dataclasses.is_dataclass(value):
        return {
            "dataclass": _qualified_name(type(value)),
            "fields": {f.name: _describe(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    raise _Undescribable


def describe_callable(check: Callable[..., Any] | None) -> str | None:
    """A stable text description of a ``size_check``, or ``None`` when it has none.

    Parameters
    ----------
    check : callable or None
        A module-level function or class, or a :func:`functools.partial` of one whose arguments
        are ``None``, bools, numbers, strings, bytes, enums, and tuples, lists, dicts (string keys)
        and dataclass instances of these (e.g. :class:`pastegen.components.crop.CropSpec`).

    Returns
    -------
    str or None
        Compact JSON naming the function (module and qualified name) and its arguments; the
        string ``"null"`` for ``check=None``; ``None`` when ``check`` cannot be described
        stably (a lambda, a closure, a bound method, a function of ``__main__``, an argument of
        another type), in which case a scan with it does not use the cache.

    Examples
    --------
    >>> import functools, operator
    >>> describe_callable(functools.partial(operator.add, 1))
    '{"args":[1],"keywords":{},"partial":{"callable":"_operator:add"}}'
    >>> describe_callable(lambda name, size: None) is None
    True
    """
    try:
        description = _describe(check)
    except _Undescribable:
        return None
    except Exception:  # noqa: BLE001 - a value whose attributes misbehave is simply not described
        return None
    return json.dumps(description, sort_keys=True, separators=(",", ":"))


def settings_key(*, max_pixels: Any, min_size: tuple[int, int] | None, size_check: Callable[..., Any] | None) -> str | None:
    """The settings part of a cache key: everything but the file that decides a scan outcome.

    Parameters
    ----------
    max_pixels : int
        As given to :func:`~pastegen.sources.scan_sources`.
    min_size : (int, int) or None
        As given to :func:`~pastegen.sources.scan_sources` (after validation).
    size_check : callable or None
        As given to :func:`~pastegen.sources.scan_sources`.

    Returns
    -------
    str or None
        64 hexadecimal digits (SHA-256 of the description, which also holds
        :data:`DECODER_VERSION` and Pillow's version); ``None`` when ``size_check`` cannot be
        described (:func:`describe_callable`) or ``max_pixels`` is not a plain number.
    """
    from PIL import __version__ as pillow_version

    check = describe_callable(size_check)
    if check is None:
        return None
    try:
        pixels = _describe(max_pixels)
        size = _describe(None if min_size is None else tuple(min_size))
    except (_Undescribable, TypeError):
        return None
    payload = {"decoder": DECODER_VERSION, "pillow": pillow_version, "max_pixels": pixels, "min_size": size, "size_check": check}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --- file keys ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FileKey:
    """Where a file's entry is found and when it is still valid.

    Attributes
    ----------
    realpath : str
        :func:`os.path.realpath` of the path.
    identity : tuple of int
        ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` of the file.
    racy : bool
        Modified less than :data:`RACY_WINDOW_NS` before ``now_ns``: usable for a lookup, but an
        outcome is not stored.
    """

    realpath: str
    identity: tuple[int, int, int, int, int]
    racy: bool

    @property
    def identity_text(self) -> str:
        """The identity as stored in the database (SQLite integers are signed 64-bit)."""
        return ":".join(str(v) for v in self.identity)


def file_key(path: str, now_ns: int | None = None) -> FileKey | None:
    """The :class:`FileKey` of ``path`` now.

    Parameters
    ----------
    path : str
        The file (symbolic links are followed).
    now_ns : int, optional
        The time (``time.time_ns()``) the racy window is measured from; default now.

    Returns
    -------
    FileKey or None
        ``None`` when the path cannot be resolved or ``stat``-ed, or is not a regular file: such a
        path is always scanned and never stored.
    """
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    now = time.time_ns() if now_ns is None else now_ns
    identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    racy = now - st.st_mtime_ns < RACY_WINDOW_NS
    return FileKey(realpath=real, identity=identity, racy=racy)


# --- the store ----------------------------------------------------------------------------------


class ScanCache:
    """An open scan cache for one settings key; made by :func:`open_scan_cache`.

    Lookups and stores never raise for a problem of the database: the first one turns the cache
    off for the rest of the scan with a :class:`~pastegen.errors.ScanCacheWarning` (at most one
    warning per instance).

    Parameters
    ----------
    path : pathlib.Path
        The cache file.
    settings : str
        The settings key (:func:`settings_key`).
    connection : sqlite3.Connection
        An open connection (autocommit mode) whose schema is in place.
    """

    def __init__(self, path: Path, settings: str, connection: sqlite3.Connection) -> None:
        self.path = path
        self.settings = settings
        self._connection: sqlite3.Connection | None = connection
        self._warned = False

    @property
    def active(self) -> bool:
        """Whether the cache is still in use (not closed, no failure so far)."""
        return self._connection is not None

    def _fail(self, what: str, exc: BaseException, *, keep: bool = False) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"scan cache {self.path}: {what} ({first_line(exc)}); scanning without it "
                f"(delete the file to start afresh, or turn the cache off)",
                ScanCacheWarning,
                stacklevel=5,
            )
        if not keep:
            self.close()

    def get(self, keys: Sequence[FileKey | None]) -> list[dict[str, Any] | None]:
        """The stored outcomes of files, where valid.

        Parameters
        ----------
        keys : sequence of FileKey or None
            One per file, from :func:`file_key`.

        Returns
        -------
        list of dict or None
            For each key, the stored outcome dict (with the ``path`` it was stored under), or
            ``None``: no key, no entry, another identity, too old, unreadable, or the cache failed.
        """
        found: list[dict[str, Any] | None] = [None] * len(keys)
        if self._connection is None:
            return found
        oldest = int(time.time()) - MAX_AGE_DAYS * 86_400
        query = f"SELECT identity, outcome FROM {_TABLE} WHERE realpath = ? AND settings = ? AND stored >= ?"
        try:
            for k, key in enumerate(keys):
                if key is None:
                    continue
                row = self._connection.execute(query, (key.realpath, self.settings, oldest)).fetchone()
                if row is None or row[0] != key.identity_text:
                    continue
                try:
                    outcome = json.loads(row[1])
                except ValueError:
                    continue
                if isinstance(outcome, dict):
                    found[k] = outcome
        except sqlite3.Error as exc:
            self._fail("cannot be read", exc)
            return [None] * len(keys)
        return found

    def put(self, entries: Iterable[tuple[FileKey, Mapping[str, Any]]]) -> None:
        """Store outcomes in one transaction, then prune (see the module docstring).

        Parameters
        ----------
        entries : iterable of (FileKey, dict)
            Each file's key, as taken before it was read, and its outcome dict; racy keys are
            left out here.
        """
        now = int(time.time())
        rows = [
            (key.realpath, self.settings, key.identity_text, json.dumps(dict(outcome), sort_keys=True), now)
            for key, outcome in entries
            if not key.racy
        ]
        if not rows or self._connection is None:
            return
        connection = self._connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(f"INSERT OR REPLACE INTO {_TABLE} VALUES (?, ?, ?, ?, ?)", rows)
                connection.execute(f"DELETE FROM {_TABLE} WHERE stored < ?", (now - MAX_AGE_DAYS * 86_400,))
                (count,) = connection.execute(f"SELECT count(*) FROM {_TABLE}").fetchone()
                if count > MAX_ROWS:
                    connection.execute(
                        f"DELETE FROM {_TABLE} WHERE rowid IN (SELECT rowid FROM {_TABLE} ORDER BY stored, rowid LIMIT ?)",
                        (count - MAX_ROWS,),
                    )
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self._fail("cannot be updated", exc)

    def close(self) -> None:
        """Close the connection (idempotent); :meth:`get` and :meth:`put` then do nothing."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except sqlite3.Error:  # pragma: no cover - closing a failed connection
                pass


def _connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the database and its schema; raises on any failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(os.fspath(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        try:
            # WAL: readers never wait for a writer. Fails on a read-only file (which still reads).
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError:
            pass
        exists = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_TABLE,)).fetchone()
        if exists is None:
            for statement in _SCHEMA:
                connection.execute(statement)
    except BaseException:
        connection.close()
        raise
    return connection


def open_scan_cache(
    cache: Any, *, max_pixels: Any, min_size: tuple[int, int] | None, size_check: Callable[..., Any] | None
) -> ScanCache | None:
    """Open the cache a scan with these settings uses.

    Parameters
    ----------
    cache : bool or path-like
        ``True``: the user cache (:func:`default_cache_path`); ``False``: none; a path: that file.
    max_pixels, min_size, size_check
        The scan's settings (see :func:`settings_key`).

    Returns
    -------
    ScanCache or None
        ``None`` for ``cache=False``, for a ``size_check`` that cannot be described, and (with one
        :class:`~pastegen.errors.ScanCacheWarning`) when the file cannot be opened or created or is
        not a usable database.

    Raises
    ------
    SpecError
        ``cache`` is neither a bool nor a path.
    """
    if not isinstance(cache, (bool, str, os.PathLike)):
        raise SpecError(f"cache must be True, False or the path of a cache file, got {cache!r}")
    if cache is False:
        return None
    settings = settings_key(max_pixels=max_pixels, min_size=min_size, size_check=size_check)
    if settings is None:
        return None
    try:
        path = cache_path(cache)
    except (RuntimeError, KeyError, OSError) as exc:  # no home folder
        warnings.warn(f"scan cache not used: no cache folder ({first_line(exc)}); set {CACHE_DIR_ENV}", ScanCacheWarning, stacklevel=3)
        return None
    if path is None:  # pragma: no cover - cache is False, handled above
        return None
    try:
        connection = _connect(path)
    except (sqlite3.Error, OSError) as exc:
        warnings.warn(
            f"scan cache {path} cannot be opened ({first_line(exc)}); scanning without it "
            f"(delete the file to start afresh, or turn the cache off)",
            ScanCacheWarning,
            stacklevel=3,
        )
        return None
    return ScanCache(path, settings, connection)
