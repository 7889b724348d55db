"""Image discovery: find source images from a folder, a glob pattern or a list file.

:func:`find_images` accepts a folder (searched recursively), a glob pattern or a text file listing
paths, and returns sorted absolute paths. Files count as images by their extension
(:data:`IMAGE_EXTENSIONS`, any case: every format :func:`~pastegen.sources.decode_image`
decodes); hidden files and folders are skipped. Every entry named like an image that is not a
folder is returned, including dangling symbolic links, symbolic link loops and FIFOs, so that the
scan lists them as skipped with their reason instead of leaving them out unseen.
"""

from __future__ import annotations

import glob
import os

from ..errors import SourceError

__all__ = ["IMAGE_EXTENSIONS", "find_images"]

#: File extensions (lower case) that :func:`find_images` treats as images, case-insensitively.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".bmp", ".gif", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".pnm", ".ppm", ".tif", ".tiff", ".webp",
)


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def is_candidate(path: str) -> bool:
    """Anything but a folder: a file, a dangling symbolic link, a link loop, a FIFO. The ones that
    cannot be read are skipped and listed, with their reason, by the scan."""
    return not os.path.isdir(path)


def walk_images(folder: str) -> list[str]:
    """Image files under ``folder``, recursively, skipping hidden files and folders."""
    found = []
    for top, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in filenames:
            if not filename.startswith(".") and _is_image_name(filename):
                path = os.path.join(top, filename)
                if is_candidate(path):
                    found.append(os.path.abspath(path))
    return found


def _has_magic(pattern: str) -> bool:
    return glob.has_magic(pattern)


def _read_list_file(list_file: str) -> list[str]:
    base = os.path.dirname(os.path.abspath(list_file))
    try:
        with open(list_file, encoding="utf-8-sig") as fh:
            lines = fh.read().splitlines()
    except UnicodeDecodeError:
        raise SourceError(
            f"{list_file} is neither a folder, an image ({', '.join(IMAGE_EXTENSIONS)}) nor a "
            "UTF-8 text file listing image paths"
        ) from None
    except OSError as exc:
        raise SourceError(f"cannot read the list file {list_file}: {exc.strerror or exc}") from None
    paths = []
    for number, line in enumerate(lines, start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = os.path.abspath(os.path.join(base, os.path.expanduser(entry)))
        if not os.path.isfile(path):
            raise SourceError(f"{list_file} line {number}: {path} does not exist or is not a file")
        paths.append(path)
    return paths


def find_images(spec: str | os.PathLike[str]) -> list[str]:
    """Find source images from a folder, a glob pattern or a list file.

    Parameters
    ----------
    spec : str or os.PathLike
        One of

        - a folder: searched recursively for files whose extension is in
          :data:`IMAGE_EXTENSIONS` (any case); files and folders whose name starts with ``.`` are
          skipped and symbolic links to folders are not followed. Entries with an image
          extension that cannot be read (a dangling symbolic link, a link loop, a FIFO) are
          returned too: :func:`~pastegen.sources.scan_sources` skips and lists them;
        - a glob pattern (``*``, ``?``, ``[...]``, and ``**`` for any number of folders), used
          when ``spec`` is not an existing path: the matching entries with an image extension,
          as for a folder (wildcards do not match names starting with ``.``);
        - an image file (with an image extension), or a symbolic link with such a name: that one
          path;
        - any other file: a UTF-8 text file of paths, one per line. Blank lines and lines starting
          with ``#`` are ignored, surrounding spaces are stripped, relative paths are relative to
          the list file's folder, and every listed path must be an existing file (any extension).

    Returns
    -------
    list of str
        Absolute paths without duplicates, sorted by their string value (so the order never
        depends on the file system).

    Raises
    ------
    SourceError
        ``spec`` does not exist (and is not a pattern), a list file names a missing file, or no
        image was found; the message says what was searched.
    """
    text = os.path.expanduser(os.fspath(spec))
    if os.path.isdir(text):
        paths = walk_images(text)
        if not paths:
            raise SourceError(
                f"no images found in {os.path.abspath(text)} (searched recursively for "
                f"{', '.join(IMAGE_EXTENSIONS)}; hidden files skipped)"
            )
    elif os.path.isfile(text) or (os.path.islink(text) and _is_image_name(text)):
        if _is_image_name(text):  # (a dangling link to an image: the scan says why it is unusable)
            paths = [os.path.abspath(text)]
        else:
            paths = _read_list_file(text)
            if not paths:
                raise SourceError(f"the list file {os.path.abspath(text)} names no images")
    elif _has_magic(text):
        paths = [
            os.path.abspath(p)
            for p in glob.glob(text, recursive=True)
            if _is_image_name(p) and is_candidate(p)
        ]
        if not paths:
            raise SourceError(
                f"no images matched the pattern {text!r} (files ending in "
                f"{', '.join(IMAGE_EXTENSIONS)})"
            )
    else:
        raise SourceError(f"image source not found: {os.path.abspath(text)} does not exist")
    return sorted(set(paths))
