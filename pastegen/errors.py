"""Typed errors raised by pastegen.

Every error the library raises on purpose derives from :class:`PastegenError`, so callers can
catch one type; the CLI turns each into a single ``Error: ...`` line. Messages are one line,
say what was wrong and, where it helps, what to do about it.
"""

from __future__ import annotations

__all__ = [
    "PastegenError",
    "SpecError",
    "ImageError",
    "EmptyFileError",
    "NotAnImageError",
    "TruncatedImageError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "UnsupportedImageError",
    "SourceError",
    "DatasetNotFoundError",
    "StoreError",
    "OutputExistsError",
    "IncompleteFileError",
    "IncompatibleFileError",
    "CorruptFileError",
    "ResumeMismatchError",
    "MissingFileError",
    "OutputWriteError",
    "StoreWarning",
    "ScanCacheWarning",
    "ShardError",
    "MissingShardError",
    "first_line",
]


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for one-line error text.

    Parameters
    ----------
    exc : BaseException
        Any exception (h5py, OpenCV and torch errors often span several lines).

    Returns
    -------
    str
        The first line of ``str(exc)`` without surrounding whitespace; the exception's type name
        when the message is empty.

    Examples
    --------
    >>> first_line(OSError("unable to open file\\n  (details)"))
    'unable to open file'
    >>> first_line(KeyError())
    'KeyError'
    """
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class PastegenError(Exception):
    """Base class of every error pastegen raises on purpose."""


class SpecError(PastegenError, ValueError):
    """An invalid parameter range, size or option in a spec or a component's parameters."""


# --- images -------------------------------------------------------------------------------------


class ImageError(PastegenError):
    """A file that cannot be used as a source image.

    Parameters
    ----------
    path : str
        The offending file.
    reason : str
        A short, human-readable reason (stored in HDF5 metadata for skipped files).
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class EmptyFileError(ImageError):
    """The file has zero bytes."""


class NotAnImageError(ImageError):
    """The file is not an image format that can be decoded."""


class TruncatedImageError(ImageError):
    """The image's data ends early or is corrupt."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than the configured limit (checked before decoding)."""


class ImageTooSmallError(ImageError):
    """The image is smaller than the crop and the small-image policy is ``skip``."""


class UnsupportedImageError(ImageError):
    """The image decodes but its pixel layout cannot be converted to RGB."""


# --- sources ------------------------------------------------------------------------------------


class SourceError(PastegenError):
    """A source of images (folder, glob, list file, dataset) cannot be used."""


class DatasetNotFoundError(SourceError):
    """A named dataset is not where the data root says it should be."""


# --- HDF5 store ---------------------------------------------------------------------------------


class StoreError(PastegenError):
    """Base class of HDF5 store errors."""


class OutputExistsError(StoreError):
    """The output file exists and neither overwriting nor resuming was asked for."""


class IncompleteFileError(StoreError):
    """The file was not finished by its writer (an interrupted run)."""


class IncompatibleFileError(StoreError):
    """The file is not a pastegen tuple file, or has another format version."""


class CorruptFileError(StoreError):
    """The file's data fails its checksums or its own consistency checks."""


class ResumeMismatchError(StoreError):
    """A run asked to resume a partial file that was made with other settings."""


class MissingFileError(StoreError, FileNotFoundError):
    """The tuple file does not exist."""


class OutputWriteError(StoreError):
    """The output file cannot be written: the disk is full, a quota is reached, an I/O error.

    Attributes
    ----------
    errno : int or None
        The operating system's error number (``errno.ENOSPC`` for a full disk), when known.
    """

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class StoreWarning(UserWarning):
    """Something the store recovered from on its own (e.g. an unreadable ``.partial`` on resume)."""


class ScanCacheWarning(UserWarning):
    """The scan cache (:mod:`pastegen.sources.scancache`) could not be used; the scan went on without it."""


# --- shards and combined files --------------------------------------------------------------------


class ShardError(StoreError):
    """Shard files that cannot be combined (mismatched, overlapping, leaving a gap), or a bad shard request."""


class MissingShardError(ShardError, FileNotFoundError):
    """A shard file that a combined file maps is not where the combined file says."""
