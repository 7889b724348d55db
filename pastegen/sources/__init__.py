"""Image sources: folders, globs, list files, named datasets, bundled sample photos; safe decoding.

Everything that turns "some photos" into decoded RGB arrays lives in this package, so that every
other part of pastegen can assume a source image is an upright, C-contiguous ``uint8`` array of
shape ``(height, width, 3)``. The whole public API is importable from here; the submodules are:

- :mod:`pastegen.sources.decode`: :func:`decode_image` and :func:`read_image_size`, defensive
  decoding with typed errors (its docstring documents the conversion policy and Pillow's global
  state);
- :mod:`pastegen.sources.discover`: :func:`find_images` (a folder, a glob pattern or a list file);
- :mod:`pastegen.sources.datasets`: :func:`resolve_data_root`, :func:`dataset_paths` (the named
  datasets and their expected layouts) and :func:`sample_image_paths`;
- :mod:`pastegen.sources.scan`: :func:`scan_sources`, :func:`hash_file` and the
  :class:`SourceImage`, :class:`SkippedFile` and :class:`SourceScan` records;
- :mod:`pastegen.sources.scancache`: the persistent cache of scan outcomes that lets
  :func:`scan_sources` skip unchanged files.
"""

from __future__ import annotations

from .datasets import (
    DATA_ROOT_ENV,
    DATASET_NAMES,
    DATASET_PRESETS,
    SPLITS,
    dataset_paths,
    resolve_data_root,
    sample_image_paths,
)
from .decode import DEFAULT_MAX_PIXELS, SUPPORTED_FORMATS, decode_image, read_image_size
from .discover import IMAGE_EXTENSIONS, find_images
from .scan import SkippedFile, SourceImage, SourceScan, hash_file, scan_sources

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SUPPORTED_FORMATS",
    "IMAGE_EXTENSIONS",
    "DATA_ROOT_ENV",
    "DATASET_NAMES",
    "DATASET_PRESETS",
    "SPLITS",
    "decode_image",
    "read_image_size",
    "find_images",
    "resolve_data_root",
    "dataset_paths",
    "sample_image_paths",
    "hash_file",
    "SourceImage",
    "SkippedFile",
    "SourceScan",
    "scan_sources",
]
