"""Tuple-file schema: format constants, file names, :class:`StoreLayout`, dataset creation.

What a tuple file is made of, shared by the writer, the reader and the verifier: the format
constants, the names of the files a run works on (:func:`partial_path`, :func:`salvage_path`)
and the check of an output path, the compression filters, and the datasets (created from a
:class:`StoreLayout`, or read back as one). Root attributes are encoded in
:mod:`pastegen.store.attributes`. See :mod:`pastegen.store` for the file layout.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # noqa: F401  (registers the Blosc filters needed to read and write blosc files)
import numpy as np

from ..errors import OutputExistsError, SpecError

#: Version of the file layout written by this module (2: ``I_T`` is not stored, see :data:`DERIVED`).
FORMAT_VERSION = 2
#: Format versions the readers accept (1: every array stored; 2: the ``derived`` ones rebuilt).
READABLE_VERSIONS = (1, 2)
#: Value of the ``format`` root attribute that marks a pastegen tuple file.
FORMAT_NAME = "pastegen-tuples"
#: The image arrays of a tuple, in order, as readers return them. ``I``, ``I_T``, ``I_S``:
#: (H, W, 3) uint8; ``M``: (H, W) 0/1. Which of them a file stores: :func:`stored_arrays`.
ARRAY_NAMES = ("I", "I_T", "I_S", "M")
#: Arrays that a file may leave out because they are exact functions of stored ones; the rule of
#: each is :func:`pastegen.store.consistency.rebuild`. ``I_T = I * (1 - M[..., None])`` (uint8
#: arithmetic, exact since ``M`` is 0/1): a plain h5py reader of a file whose ``derived``
#: attribute names ``I_T`` computes it so from the stored ``I`` and ``M``.
DERIVABLE = ("I_T",)
#: Arrays the writer of :data:`FORMAT_VERSION` files does not store (the ``derived`` root
#: attribute, names joined by ``,``). ``I_T`` took 34 % of a 512x512 face tuple's bytes (0.47 of
#: 1.38 MB under blosc-lz4) and the time to compress and checksum them, for no information.
DERIVED = ("I_T",)


def stored_arrays(derived: Iterable[str] = DERIVED) -> tuple[str, ...]:
    """The image datasets a file stores, in :data:`ARRAY_NAMES` order, given its derived arrays.

    ``stored_arrays()`` is what this version writes; ``stored_arrays(())`` a format-1 file's.

    >>> stored_arrays(), stored_arrays(())
    (('I', 'I_S', 'M'), ('I', 'I_T', 'I_S', 'M'))
    """
    skip = set(derived)
    return tuple(name for name in ARRAY_NAMES if name not in skip)


def parse_derived(value: Any) -> tuple[str, ...]:
    """The ``derived`` attribute as a tuple of array names (absent or empty: none, as in format 1)."""
    return parse_uncompressed(value)
#: Compression filters for the image datasets (the blosc ones come from hdf5plugin).
COMPRESSIONS = ("none", "lzf", "gzip", "blosc-lz4", "blosc-zstd")
#: Chosen from benchmarks/results/hdf5_compression.json: the fastest writer under 1.6 MB per
#: 512x512 tuple (~1.2 MB; lzf and gzip write 4-8x slower; blosc-zstd is ~18% smaller but writes
#: 2x and reads 2.5x slower).
DEFAULT_COMPRESSION = "blosc-lz4"
#: Per-compression storage rule: image datasets whose chunks are stored with the compression filter
#: skipped (bit 0 of the chunk's filter mask set, exactly what HDF5 does itself for a chunk the
#: filter cannot shrink; the Fletcher-32 checksum still applies). Under blosc-lz4, ``I`` (a photo)
#: shrinks by only ~26 % for ~0.5 ms of LZ4 per 512x512 tuple, a tenth of ``make``'s CPU time, and
#: reads faster raw; the other datasets (mostly zeros) are compressed. Decoded arrays do not depend
#: on it. The rule a file was written with is its ``uncompressed`` attribute (names joined by ``,``;
#: absent in earlier files: every chunk filtered as HDF5 chose) and
#: :func:`pastegen.store.verify` checks every chunk against it.
UNCOMPRESSED: dict[str, tuple[str, ...]] = {"blosc-lz4": ("I",)}


def uncompressed_datasets(compression: str) -> tuple[str, ...]:
    """The image datasets stored unfiltered under ``compression`` (see :data:`UNCOMPRESSED`)."""
    return UNCOMPRESSED.get(compression, ())


def parse_uncompressed(value: Any) -> tuple[str, ...]:
    """The ``uncompressed`` attribute as a tuple of dataset names (absent or empty: none)."""
    if not isinstance(value, str) or not value:
        return ()
    return tuple(v for v in value.split(",") if v)


#: Root attributes the store manages; callers cannot set them.
RESERVED_ATTRS = (
    "format",
    "format_version",
    "complete",
    "count",
    "created",
    "compression",
    "pastegen_version",
    "json_attrs",
    "run_attrs",
    "uncompressed",
    "derived",
)
#: Reserved attributes that files of earlier versions may lack (verify does not require them).
OPTIONAL_ATTRS = frozenset({"uncompressed", "derived"})
#: Caller attributes that may differ between a run and its resume (not compared on resume).
VOLATILE_ATTRS = frozenset({"summary", "created", "timings", "elapsed", "host", "command", "jobs", "workers"})
#: Suffix of the file a writer works on until :meth:`TupleWriter.commit`.
PARTIAL_SUFFIX = ".partial"
#: Suffix of the fresh file a resume copies a ``.partial`` file's good tuples into (it then
#: replaces the ``.partial``; one left over from an interrupted resume is removed).
SALVAGE_SUFFIX = ".partial.new"

_SMALL_CHUNK_BYTES = 16 * 1024


def partial_path(path: str | os.PathLike) -> Path:
    """The temporary file a writer of ``path`` works on (``<path>.partial``, same folder)."""
    p = Path(path)
    return p.with_name(p.name + PARTIAL_SUFFIX)


def salvage_path(path: str | os.PathLike) -> Path:
    """The file a resume of ``path`` salvages into (``<path>.partial.new``, same folder)."""
    p = Path(path)
    return p.with_name(p.name + SALVAGE_SUFFIX)


def check_output(path: str | os.PathLike, *, overwrite: bool = False, resume: bool = False) -> None:
    """Refuse an output path that a new run must not touch, before any work is done.

    Raises
    ------
    OutputExistsError
        ``path`` is a folder; or it exists and ``overwrite`` is off; or an interrupted run's
        ``.partial`` is there and neither ``resume`` nor ``overwrite`` is on.
    """
    path = Path(path)
    partial = partial_path(path)
    if path.is_dir():
        raise OutputExistsError(f"{path} is a directory; give a file name for the output")
    if path.exists() and not overwrite:
        if resume and partial.exists():
            raise OutputExistsError(
                f"{path} exists and so does {partial.name}; pass --overwrite with --resume to finish the partial file and replace {path.name}"
            )
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    if partial.exists() and not (resume or overwrite):
        raise OutputExistsError(f"{partial} exists (an interrupted run); pass --resume to finish it or --overwrite to start over")


# --- layout ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreLayout:
    """Shape of a tuple file.

    Parameters
    ----------
    count : int
        Number of tuples N (indices ``0 .. N-1``).
    height, width : int
        Size of every image.
    param_fields : mapping
        ``{"component/field": (shape, dtype)}``, e.g. ``{"geometric/offsets": ((4, 2), "float64")}``;
        stored at ``params/<field>`` with shape ``(N, *shape)``. Numeric and bool dtypes only.
    """

    count: int
    height: int
    width: int
    param_fields: Mapping[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("count", "height", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise SpecError(f"StoreLayout.{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        fields: dict[str, tuple[tuple[int, ...], str]] = {}
        for name, spec in dict(self.param_fields).items():
            _check_field_name(name)
            try:
                shape, dtype = spec
                shape = tuple(int(s) for s in shape)
                dt = np.dtype(dtype)
            except (TypeError, ValueError) as e:
                raise SpecError(f"param field {name!r}: expected (shape, dtype), got {spec!r} ({e})") from None
            if any(s < 1 for s in shape):
                raise SpecError(f"param field {name!r}: every dimension must be positive, got {shape}")
            if dt.kind not in "biuf":
                raise SpecError(f"param field {name!r}: dtype must be bool, integer or float, got {dt}")
            fields[name] = (shape, dt.name)
        names = set(fields)
        for name in fields:
            parts = name.split("/")
            for k in range(1, len(parts)):
                if "/".join(parts[:k]) in names:
                    raise SpecError(f"param field {'/'.join(parts[:k])!r} cannot also be the group of {name!r}")
        object.__setattr__(self, "param_fields", fields)


def _check_field_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise SpecError(f"param field names must be non-empty strings, got {name!r}")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise SpecError(f"param field name {name!r} has an empty, '.' or '..' part")


# --- dataset creation -----------------------------------------------------------------------------


def compression_kwargs(compression: str) -> dict[str, Any]:
    """The h5py ``create_dataset`` keywords of a compression filter (one of :data:`COMPRESSIONS`)."""
    if compression == "none":
        return {}
    if compression == "lzf":
        return {"compression": "lzf"}
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 1}
    if compression == "blosc-lz4":
        return dict(hdf5plugin.Blosc(cname="lz4", clevel=1, shuffle=hdf5plugin.Blosc.NOSHUFFLE))
    if compression == "blosc-zstd":
        return dict(hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.NOSHUFFLE))
    raise SpecError(f"unknown compression {compression!r}; choose one of {', '.join(COMPRESSIONS)}")


def _row_chunks(count: int, row_shape: tuple[int, ...], dtype: str) -> tuple[int, ...]:
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
    rows = max(1, min(count, _SMALL_CHUNK_BYTES // row_bytes))
    return (rows, *row_shape)


def _array_shape(name: str, layout: StoreLayout) -> tuple[int, ...]:
    return (layout.height, layout.width) if name == "M" else (layout.height, layout.width, 3)


def create_datasets(f: h5py.File, layout: StoreLayout, compression: str, derived: Iterable[str] = DERIVED) -> None:
    """Create every dataset of a new tuple file (stored images, ``source_index``, ``written``, ``params/``).

    No dataset is created for the ``derived`` arrays (see :func:`stored_arrays`).
    """
    comp = compression_kwargs(compression)
    n = layout.count
    for name in stored_arrays(derived):
        shape = _array_shape(name, layout)
        f.create_dataset(name, shape=(n, *shape), dtype="u1", chunks=(1, *shape), fletcher32=True, **comp)
    for name, dtype in (("source_index", "int64"), ("written", "uint8")):
        f.create_dataset(name, shape=(n,), dtype=dtype, chunks=_row_chunks(n, (), dtype), fletcher32=True)
    params = f.create_group("params")
    for fname, (shape, dtype) in layout.param_fields.items():
        params.create_dataset(fname, shape=(n, *shape), dtype=dtype, chunks=_row_chunks(n, shape, dtype), fletcher32=True)


def file_param_fields(f: h5py.File) -> dict[str, tuple[tuple[int, ...], str]]:
    """The parameter schema of an open file, read from its ``params`` group (see :class:`StoreLayout`)."""
    out: dict[str, tuple[tuple[int, ...], str]] = {}
    group = f.get("params")
    if not isinstance(group, h5py.Group):
        return out

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            out[name] = (tuple(int(s) for s in obj.shape[1:]), obj.dtype.name)

    group.visititems(visit)
    return out


def file_layout(f: h5py.File) -> StoreLayout:
    """The :class:`StoreLayout` of an open file (from its ``I`` dataset and ``params`` group)."""
    i = f["I"]
    return StoreLayout(count=int(i.shape[0]), height=int(i.shape[1]), width=int(i.shape[2]), param_fields=file_param_fields(f))
