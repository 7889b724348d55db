"""Scanning: decode, hash and measure every source image once; skip and report bad files.

:func:`scan_sources` fully decodes every file (the only way to catch a truncated JPEG), hashes its
bytes and records its decoded size, skipping and reporting bad files (or raising the first one's
error with ``strict=True``). Outcomes are kept in a persistent cache
(:mod:`pastegen.sources.scancache`), so scanning the same unchanged files again reads none of them.
"""

from __future__ import annotations

import hashlib
import math
import operator
import os
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import errors as _errors
from .._workers import loky_parallel, watch_parent
from ..errors import ImageError, ImageTooSmallError, SpecError
from .decode import DEFAULT_MAX_PIXELS, WARNINGS_LOCK, decode_data, read_bytes
from .scancache import CacheOption, FileKey, ScanCache, file_key, open_scan_cache

__all__ = ["hash_file", "SourceImage", "SkippedFile", "SourceScan", "scan_sources"]


def hash_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str
        64 lower-case hexadecimal digits.

    Raises
    ------
    OSError
        The file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class SourceImage:
    """A usable source image.

    Attributes
    ----------
    path : str
        The file.
    sha256 : str
        SHA-256 of the file's bytes.
    height, width : int
        The decoded size, after EXIF orientation.
    """

    path: str
    sha256: str
    height: int
    width: int

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict."""
        return {
            "path": self.path,
            "sha256": self.sha256,
            "height": self.height,
            "width": self.width,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceImage:
        """Inverse of :meth:`to_dict`."""
        return cls(
            path=str(data["path"]),
            sha256=str(data["sha256"]),
            height=int(data["height"]),
            width=int(data["width"]),
        )


@dataclass(frozen=True)
class SkippedFile:
    """A file that was skipped, and why.

    Attributes
    ----------
    path : str
        The file.
    reason : str
        The one-line reason.
    error : str
        The name of the :class:`~pastegen.errors.ImageError` subclass raised for the file, e.g.
        ``"TruncatedImageError"``.
    """

    path: str
    reason: str
    error: str

    def to_dict(self) -> dict[str, str]:
        """A plain JSON-able dict."""
        return {"path": self.path, "reason": self.reason, "error": self.error}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SkippedFile:
        """Inverse of :meth:`to_dict`."""
        return cls(path=str(data["path"]), reason=str(data["reason"]), error=str(data["error"]))

    @classmethod
    def from_error(cls, error: ImageError) -> SkippedFile:
        """The record of a typed image error."""
        return cls(path=error.path, reason=error.reason, error=type(error).__name__)

    def to_error(self) -> ImageError:
        """The typed error this record stands for (:class:`ImageError` if the name is unknown)."""
        kind = getattr(_errors, self.error, None)
        if not (isinstance(kind, type) and issubclass(kind, ImageError)):
            kind = ImageError
        return kind(self.path, self.reason)


@dataclass(frozen=True)
class SourceScan:
    """The result of :func:`scan_sources`: usable images and skipped files, both in input order."""

    images: tuple[SourceImage, ...]
    skipped: tuple[SkippedFile, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        """The paths of the usable images."""
        return tuple(image.path for image in self.images)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """``{"images": [...], "skipped": [...]}`` of plain JSON-able dicts."""
        return {
            "images": [image.to_dict() for image in self.images],
            "skipped": [skipped.to_dict() for skipped in self.skipped],
        }

    @classmethod
    def from_dicts(
        cls,
        images: Iterable[Mapping[str, Any]],
        skipped: Iterable[Mapping[str, Any]] = (),
    ) -> SourceScan:
        """Rebuild a scan from :meth:`SourceImage.to_dict` and :meth:`SkippedFile.to_dict` dicts."""
        return cls(
            images=tuple(SourceImage.from_dict(d) for d in images),
            skipped=tuple(SkippedFile.from_dict(d) for d in skipped),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceScan:
        """Inverse of :meth:`to_dict`."""
        return cls.from_dicts(data.get("images", ()), data.get("skipped", ()))


SizeCheck = Callable[[str, tuple[int, int]], Any]


def _scan_one(
    path: str, max_pixels: int, min_size: tuple[int, int] | None, size_check: SizeCheck | None = None
) -> SourceImage | ImageError:
    try:
        data, name = read_bytes(path)
        array = decode_data(data, name, max_pixels)
        height, width = array.shape[:2]
        del array
        if min_size is not None and (height < min_size[0] or width < min_size[1]):
            raise ImageTooSmallError(
                name,
                f"{height}x{width} (HxW) is smaller than the minimum {min_size[0]}x{min_size[1]}",
            )
        if size_check is not None:
            size_check(name, (height, width))
        digest = hashlib.sha256(data).hexdigest()
        return SourceImage(path=path, sha256=digest, height=height, width=width)
    except ImageError as exc:
        return exc


def _scan_batch(
    paths: Sequence[str],
    max_pixels: int,
    min_size: tuple[int, int] | None,
    size_check: SizeCheck | None = None,
    parent_pid: int | None = None,
) -> list[SourceImage | SkippedFile]:
    if parent_pid is not None:
        watch_parent(parent_pid)  # a worker dies with the scanning process (also if SIGKILLed)
    results: list[SourceImage | SkippedFile] = []
    for path in paths:
        outcome = _scan_one(path, max_pixels, min_size, size_check)
        if isinstance(outcome, ImageError):
            results.append(SkippedFile.from_error(outcome))
        else:
            results.append(outcome)
    return results


def _check_min_size(min_size: Any) -> tuple[int, int] | None:
    if min_size is None:
        return None
    try:
        height, width = (operator.index(v) for v in min_size)
        flags = any(isinstance(v, bool) for v in min_size)
    except (TypeError, ValueError):
        height = width = 0
        flags = True
    if flags or height < 1 or width < 1:
        raise SpecError(
            f"min_size must be two positive integers (height, width), got {min_size!r}"
        )
    return (int(height), int(width))


def _check_jobs(jobs: Any) -> int:
    try:
        value = operator.index(jobs)
    except TypeError:
        value = 0
    if isinstance(jobs, bool) or (value < 1 and value != -1):
        raise SpecError(f"jobs must be a positive integer or -1 (all CPUs), got {jobs!r}")
    return int(value)


def scan_sources(
    paths: Iterable[str | os.PathLike[str]],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_size: tuple[int, int] | None = None,
    jobs: int = 1,
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
    size_check: SizeCheck | None = None,
    cache: CacheOption = True,
) -> SourceScan:
    """Decode every source image once: keep the good ones, report the bad ones.

    Each file is read once, fully decoded with :func:`decode_image` (the only way to find a
    truncated JPEG), hashed (SHA-256 of its bytes) and measured (decoded size after EXIF
    orientation). With the scan cache (the default), a file scanned before with the same settings
    and unchanged since (same real path, device, inode, size, modification and change times) is
    not read at all: its stored outcome is returned (:mod:`pastegen.sources.scancache`).

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        The files, e.g. from :func:`find_images` or :func:`dataset_paths`. Paths are recorded as
        given (as strings).
    max_pixels : int, optional
        Passed to :func:`decode_image`.
    min_size : tuple of int or None, optional
        ``(height, width)``: an image smaller than this in either dimension is skipped with
        :class:`~pastegen.errors.ImageTooSmallError`. ``None`` (default) skips nothing for size.
    jobs : int, optional
        Worker processes; ``1`` (default) scans in this process, more uses joblib's ``loky``
        backend in batches, ``-1`` uses every CPU. Results are in input order and identical for
        every value. The workers end themselves within a fraction of a second when this process
        dies, even by ``SIGKILL`` (:func:`pastegen._workers.watch_parent`), so none is left
        holding the caller's standard output. Only files the cache does not answer are scanned.
    strict : bool, optional
        Raise the typed error of the first bad file (in input order) instead of skipping it; a
        file the cache knows to be bad raises the same error type with the same message.
    progress : callable, optional
        Called as ``progress(n)`` with the number of files just processed (for a progress bar);
        files answered by the cache count too.
    size_check : callable, optional
        Called as ``size_check(path, (height, width))`` with each decoded size; raising an
        :class:`~pastegen.errors.ImageError` skips the file (or, with ``strict=True``, stops the
        scan) like any other bad file. :func:`pastegen.precompute.make` passes
        :func:`pastegen.components.crop.check_resized_pixels`, so that a photo whose enlargement to
        the crop would exceed ``max_pixels`` (a thin strip) is refused here. Must be picklable for
        ``jobs > 1`` (e.g. a :func:`functools.partial` of a module-level function), and must be
        such a function or partial for the cache to be used
        (:func:`~pastegen.sources.scancache.describe_callable`); any other callable scans every
        file.
    cache : bool or path-like, optional
        ``True`` (default): the user's scan cache
        (:func:`~pastegen.sources.scancache.default_cache_path`: ``$PASTEGEN_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/pastegen``, else ``~/.cache/pastegen``); ``False``: no cache (nothing is
        read or written); a path: that cache file. A cache that cannot be used (locked, corrupt,
        read-only, not creatable) never fails the scan: it gives one
        :class:`~pastegen.errors.ScanCacheWarning` and the files are scanned.

    Returns
    -------
    SourceScan
        Usable images and skipped files, each in input order; the same with or without the cache.

    Raises
    ------
    ImageError
        With ``strict=True``, the first bad file's error (a subclass such as
        :class:`~pastegen.errors.TruncatedImageError`).
    SpecError
        Invalid ``min_size``, ``jobs`` or ``cache``.
    """
    items = [os.fspath(p) for p in paths]
    min_size = _check_min_size(min_size)
    jobs = _check_jobs(jobs)
    if not isinstance(cache, (bool, str, os.PathLike)):
        raise SpecError(f"cache must be True, False or the path of a cache file, got {cache!r}")
    store = open_scan_cache(cache, max_pixels=max_pixels, min_size=min_size, size_check=size_check) if items else None
    try:
        return _scan(items, max_pixels, min_size, jobs, strict, progress, size_check, store)
    finally:
        if store is not None:
            store.close()


_Outcome = SourceImage | SkippedFile | ImageError


def _from_cache(entry: Mapping[str, Any] | None, path: str) -> SourceImage | SkippedFile | None:
    """The outcome a cache entry stands for, under the path as given now (``None``: unusable)."""
    if entry is None:
        return None
    try:
        data = {**entry, "path": path}
        return SourceImage.from_dict(data) if "sha256" in data else SkippedFile.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


def _cacheable(outcome: _Outcome) -> dict[str, Any] | None:
    """The dict to store for an outcome, or ``None`` when it may not depend on the bytes alone
    (a plain :class:`ImageError`: the file could not be read)."""
    if isinstance(outcome, SourceImage):
        return outcome.to_dict()
    record = SkippedFile.from_error(outcome) if isinstance(outcome, ImageError) else outcome
    return None if record.error == ImageError.__name__ else record.to_dict()


def _scan(
    items: list[str],
    max_pixels: int,
    min_size: tuple[int, int] | None,
    jobs: int,
    strict: bool,
    progress: Callable[[int], None] | None,
    size_check: SizeCheck | None,
    store: ScanCache | None,
) -> SourceScan:
    """:func:`scan_sources` once its options are checked and its cache is open."""
    n = len(items)
    keys: list[FileKey | None] = [None] * n
    outcomes: list[_Outcome | None] = [None] * n
    if store is not None:
        now = time.time_ns()  # before any file is read
        keys = [file_key(path, now) for path in items]
        for k, entry in enumerate(store.get(keys)):
            outcomes[k] = _from_cache(entry, items[k])
    misses = [k for k in range(n) if outcomes[k] is None]

    images: list[SourceImage] = []
    skipped: list[SkippedFile] = []
    done = 0  # outcomes[:done] are in images/skipped

    def flush() -> None:
        """Take the outcomes known so far in input order (raising the first bad one if strict)."""
        nonlocal done
        start = done
        while done < n and outcomes[done] is not None:
            outcome = outcomes[done]
            if isinstance(outcome, SourceImage):
                images.append(outcome)
            elif isinstance(outcome, ImageError):
                if strict:
                    raise outcome
                skipped.append(SkippedFile.from_error(outcome))
            elif isinstance(outcome, SkippedFile):
                if strict:
                    raise outcome.to_error()
                skipped.append(outcome)
            done += 1
        if progress is not None and done > start:
            progress(done - start)

    entries: list[tuple[FileKey, dict[str, Any]]] = []
    fresh = _fresh_outcomes(items, misses, max_pixels, min_size, size_check, jobs)
    try:
        flush()
        for batch in fresh:
            for k, outcome in batch:
                outcomes[k] = outcome
                key = keys[k]
                if key is None or key.racy:
                    continue
                record = _cacheable(outcome)
                after = file_key(items[k]) if record is not None else None
                # stored only if the file did not change while it was read
                if record is not None and after is not None and (after.realpath, after.identity) == (key.realpath, key.identity):
                    entries.append((key, record))
            flush()
    finally:
        fresh.close()
        if store is not None and entries:
            store.put(entries)
    return SourceScan(images=tuple(images), skipped=tuple(skipped))


def _fresh_outcomes(
    items: list[str],
    misses: list[int],
    max_pixels: int,
    min_size: tuple[int, int] | None,
    size_check: SizeCheck | None,
    jobs: int,
) -> Generator[list[tuple[int, _Outcome]], None, None]:
    """Scan the files ``items[k]`` for ``k`` in ``misses``; yield lists of ``(k, outcome)`` in order."""
    if jobs == 1 or len(misses) <= 1:
        for k in misses:
            yield [(k, _scan_one(items[k], max_pixels, min_size, size_check))]
        return

    from joblib import delayed, effective_n_jobs

    workers = effective_n_jobs(int(jobs))
    batch = max(1, min(64, math.ceil(len(misses) / (workers * 4))))
    batches = [misses[i : i + batch] for i in range(0, len(misses), batch)]
    parallel = loky_parallel(n_jobs=workers, return_as="generator")
    parent = os.getpid()
    results = parallel(
        delayed(_scan_batch)([items[k] for k in chunk], max_pixels, min_size, size_check, parent) for chunk in batches
    )
    try:
        for chunk, chunk_results in zip(batches, results, strict=True):
            yield list(zip(chunk, chunk_results, strict=True))
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            # Stopping early (strict, or an interrupt) cancels the remaining batches; joblib warns
            # about the unused work, which is expected here.
            with WARNINGS_LOCK, warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*tasks", category=UserWarning)
                close()
