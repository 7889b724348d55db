"""Scanning: decode, hash and measure every source image once; skip and report bad files.

:func:`scan_sources` fully decodes every file (the only way to catch a truncated JPEG), hashes its
bytes and records its decoded size, skipping and reporting bad files (or raising the first one's
error with ``strict=True``).
"""

from __future__ import annotations

import hashlib
import math
import operator
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import errors as _errors
from .._workers import loky_parallel, watch_parent
from ..errors import ImageError, ImageTooSmallError, SpecError
from .decode import DEFAULT_MAX_PIXELS, WARNINGS_LOCK, decode_data, read_bytes

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
) -> SourceScan:
    """Decode every source image once: keep the good ones, report the bad ones.

    Each file is read once, fully decoded with :func:`decode_image` (the only way to find a
    truncated JPEG), hashed (SHA-256 of its bytes) and measured (decoded size after EXIF
    orientation).

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
        holding the caller's standard output.
    strict : bool, optional
        Raise the typed error of the first bad file (in input order) instead of skipping it.
    progress : callable, optional
        Called as ``progress(n)`` with the number of files just processed (for a progress bar).
    size_check : callable, optional
        Called as ``size_check(path, (height, width))`` with each decoded size; raising an
        :class:`~pastegen.errors.ImageError` skips the file (or, with ``strict=True``, stops the
        scan) like any other bad file. :func:`pastegen.precompute.make` passes
        :func:`pastegen.components.crop.check_resized_pixels`, so that a photo whose enlargement to
        the crop would exceed ``max_pixels`` (a thin strip) is refused here. Must be picklable for
        ``jobs > 1`` (e.g. a :func:`functools.partial` of a module-level function).

    Returns
    -------
    SourceScan
        Usable images and skipped files, each in input order.

    Raises
    ------
    ImageError
        With ``strict=True``, the first bad file's error (a subclass such as
        :class:`~pastegen.errors.TruncatedImageError`).
    SpecError
        Invalid ``min_size`` or ``jobs``.
    """
    items = [os.fspath(p) for p in paths]
    min_size = _check_min_size(min_size)
    jobs = _check_jobs(jobs)

    images: list[SourceImage] = []
    skipped: list[SkippedFile] = []

    if jobs == 1 or len(items) <= 1:
        for path in items:
            outcome = _scan_one(path, max_pixels, min_size, size_check)
            if isinstance(outcome, ImageError):
                if strict:
                    raise outcome
                skipped.append(SkippedFile.from_error(outcome))
            else:
                images.append(outcome)
            if progress is not None:
                progress(1)
        return SourceScan(images=tuple(images), skipped=tuple(skipped))

    from joblib import delayed, effective_n_jobs

    workers = effective_n_jobs(int(jobs))
    batch = max(1, min(64, math.ceil(len(items) / (workers * 4))))
    batches = [items[i : i + batch] for i in range(0, len(items), batch)]
    parallel = loky_parallel(n_jobs=workers, return_as="generator")
    parent = os.getpid()
    results = parallel(delayed(_scan_batch)(chunk, max_pixels, min_size, size_check, parent) for chunk in batches)
    try:
        for chunk_results in results:
            for outcome in chunk_results:
                if isinstance(outcome, SkippedFile):
                    if strict:
                        raise outcome.to_error()
                    skipped.append(outcome)
                else:
                    images.append(outcome)
            if progress is not None:
                progress(len(chunk_results))
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            # Stopping early (strict, or an interrupt) cancels the remaining batches; joblib warns
            # about the unused work, which is expected here.
            with WARNINGS_LOCK, warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*tasks", category=UserWarning)
                close()
    return SourceScan(images=tuple(images), skipped=tuple(skipped))
