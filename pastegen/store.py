"""HDF5 storage of training tuples: schema, crash-safe writer, fork-safe reader, verifier.

A tuple file holds ``count`` training tuples ``(I, I_T, I_S, M)`` of one size, the sampled
parameters of every tuple (so each tuple can be replayed and audited), the index of its source
photo, and the run's metadata (spec, seed, sources, ...) as HDF5 attributes. The store does not
know the parameter schema: the caller describes it with a :class:`StoreLayout`.

Layout of a file (format version 1)
-----------------------------------
=====================  ======================  ==========================================
dataset                shape, dtype            chunks
=====================  ======================  ==========================================
``I``, ``I_T``, ``I_S``  (N, H, W, 3) uint8      one tuple, compressed (see below)
``M``                  (N, H, W) uint8, 0/1     one tuple, compressed
``source_index``       (N,) int64               rows (<= 16 KiB per chunk)
``written``            (N,) uint8               rows; 1 once the tuple is safely on disk
``params/<field>``     (N, *shape) field dtype  rows (<= 16 KiB per chunk)
=====================  ======================  ==========================================

Every dataset has the ``fletcher32`` filter: a per-chunk checksum that HDF5 checks on every read,
so a damaged chunk raises instead of returning wrong pixels. Field names contain ``/`` and so form
groups (``params/geometric/offsets``).

Root attributes managed by the store (:data:`RESERVED_ATTRS`): ``format`` (``"pastegen-tuples"``),
``format_version``, ``complete`` (0/1), ``count``, ``created`` (UTC, ISO 8601), ``compression``,
``pastegen_version``, ``json_attrs`` and ``run_attrs``. The caller's attributes are stored next to
them: a ``str``, ``int`` or ``float`` as an HDF5 attribute of that type, anything else (bool,
None, lists, dicts) as a JSON string whose name is listed in ``json_attrs``. Nothing is pickled.

Compression (:data:`COMPRESSIONS`) applies to the four image datasets; the small datasets carry
only the checksum. Levels (measured on 200 512x512 face tuples, 2 cores): ``gzip`` level 1;
``blosc-lz4`` Blosc(lz4, clevel 1, no shuffle); ``blosc-zstd`` Blosc(zstd, clevel 1, no shuffle).
lz4 clevel 1 wrote 11% faster than clevel 5 for 1% larger files (clevel 9: 5% smaller, 30% slower);
byte shuffle is a no-op on uint8 data and bit-shuffle halved the read speed for 7% smaller files.
Blosc runs single-threaded (set ``BLOSC_NTHREADS`` to change it). ``benchmarks/hdf5_compression.py``
measures the filters; its results chose :data:`DEFAULT_COMPRESSION`.

Crash safety
------------
:class:`TupleWriter` writes ``<final>.partial`` next to the final path and renames it into place
(``os.replace``, atomic on one file system) only in :meth:`TupleWriter.commit`, so a run killed at
any moment never leaves a file at the final path. The file is written with HDF5's default
(earliest) file format: with ``libver="latest"`` HDF5 marks the superblock "open for writing" and
a file left by a killed writer cannot be opened again without ``h5clear``. The writer flushes
every ``flush_every`` tuples and only after a flush sets the ``written`` flag of the tuples it
covered, so a flag on disk implies the tuple's data reached the file before it (killing writers at
random moments showed a flag written together with its data can reach the disk before the data's
chunk index does).

``resume=True`` never writes into the killed file. It opens it read-only, checks it was made with
the same layout, compression and attributes (:class:`ResumeMismatchError` otherwise), re-checks
every flagged tuple (chunks allocated, checksums, ``M`` binary and non-empty,
``I_T == I·(1−M)``, ``I_S`` zero outside ``M``) and copies the good ones chunk by chunk, still
compressed, into a fresh file that replaces the old ``.partial``; tuples that fail are generated
again. A ``.partial`` that cannot be opened at all is replaced by a fresh one with a
:class:`StoreWarning` (the generator is deterministic, so the result is the same). The copy needs
room for a second copy of the partial file while it runs.
"""

from __future__ import annotations

import datetime as _dt
import json
import operator
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import h5py
import hdf5plugin  # noqa: F401  (registers the Blosc filters needed to read and write blosc files)
import numpy as np

from .errors import (
    CorruptFileError,
    IncompatibleFileError,
    IncompleteFileError,
    MissingFileError,
    OutputExistsError,
    ResumeMismatchError,
    SpecError,
    StoreError,
    StoreWarning,
)

__all__ = [
    "FORMAT_VERSION",
    "FORMAT_NAME",
    "ARRAY_NAMES",
    "COMPRESSIONS",
    "DEFAULT_COMPRESSION",
    "RESERVED_ATTRS",
    "VOLATILE_ATTRS",
    "PARTIAL_SUFFIX",
    "StoreLayout",
    "StoreWarning",
    "MissingFileError",
    "TupleWriter",
    "TupleFile",
    "open_tuples",
    "verify",
    "VerifyReport",
    "partial_path",
    "check_output",
]

#: Version of the file layout written by this module; readers refuse any other.
FORMAT_VERSION = 1
#: Value of the ``format`` root attribute that marks a pastegen tuple file.
FORMAT_NAME = "pastegen-tuples"
#: The image datasets, in order. ``I``, ``I_T``, ``I_S``: (N, H, W, 3) uint8; ``M``: (N, H, W) 0/1.
ARRAY_NAMES = ("I", "I_T", "I_S", "M")
#: Compression filters for the image datasets (the blosc ones come from hdf5plugin).
COMPRESSIONS = ("none", "lzf", "gzip", "blosc-lz4", "blosc-zstd")
#: Chosen from benchmarks/results/hdf5_compression.json: the fastest writer under 1.6 MB per
#: 512x512 tuple (~1.2 MB; lzf and gzip write 4-8x slower; blosc-zstd is ~18% smaller but writes
#: 2x and reads 2.5x slower).
DEFAULT_COMPRESSION = "blosc-lz4"
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
)
#: Caller attributes that may differ between a run and its resume (not compared on resume).
VOLATILE_ATTRS = frozenset({"summary", "created", "timings", "elapsed", "host", "command", "jobs", "workers"})
#: Suffix of the file a writer works on until :meth:`TupleWriter.commit`.
PARTIAL_SUFFIX = ".partial"

_SALVAGE_SUFFIX = ".partial.new"
_SMALL_CHUNK_BYTES = 16 * 1024
_DEFAULT_FLUSH_EVERY = 64
_FLUSH_SECONDS = 5.0
_MAX_PROBLEMS = 200


def partial_path(path: str | os.PathLike) -> Path:
    """The temporary file a writer of ``path`` works on (``<path>.partial``, same folder)."""
    p = Path(path)
    return p.with_name(p.name + PARTIAL_SUFFIX)


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


# --- attributes -----------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _encode_attr(name: str, value: Any) -> tuple[Any, bool]:
    """``(stored value, is_json)``: str/int/float as themselves, anything else as a JSON string."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return value, False
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value, False
    if isinstance(value, float):
        return value, False
    try:
        return json.dumps(value, default=_json_default), True
    except (TypeError, ValueError) as e:
        raise SpecError(f"attribute {name!r} cannot be stored: {e} (give JSON-able values)") from None


def _decode_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [_decode_value(v) for v in value.tolist()] if value.ndim else _decode_value(value[()])
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_attrs(obj: h5py.HLObject) -> dict[str, Any]:
    """Decoded attributes: plain values as Python types, those listed in ``json_attrs`` parsed."""
    raw = {}
    for k in obj.attrs.keys():
        try:
            raw[k] = _decode_value(obj.attrs[k])
        except Exception:  # noqa: BLE001 - an attribute type h5py cannot read (foreign files)
            continue
    json_names = _json_list(raw.get("json_attrs"))
    for k in ("json_attrs", "run_attrs"):
        if k in raw:
            raw[k] = _json_list(raw[k])
    for k in json_names:
        if k in raw and isinstance(raw[k], str):
            try:
                raw[k] = json.loads(raw[k])
            except json.JSONDecodeError:
                pass
    return raw


def _json_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(x) for x in value]
    if not isinstance(value, str):
        return []
    try:
        out = json.loads(value)
    except json.JSONDecodeError:
        return []
    return [str(x) for x in out] if isinstance(out, list) else []


def _canon(value: Any) -> str:
    """Canonical text of an attribute value for comparisons (tuples == lists, NaN == NaN)."""
    if isinstance(value, np.generic):
        value = value.item()
    return json.dumps(value, sort_keys=True, default=_json_default)


def _short(value: Any, limit: int = 60) -> str:
    text = _canon(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pastegen_version() -> str:
    from pastegen._version import __version__

    return str(__version__)


# --- dataset creation -----------------------------------------------------------------------------


def _compression_kwargs(compression: str) -> dict[str, Any]:
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


def _create_datasets(f: h5py.File, layout: StoreLayout, compression: str) -> None:
    comp = _compression_kwargs(compression)
    n = layout.count
    for name in ARRAY_NAMES:
        shape = _array_shape(name, layout)
        f.create_dataset(name, shape=(n, *shape), dtype="u1", chunks=(1, *shape), fletcher32=True, **comp)
    for name, dtype in (("source_index", "int64"), ("written", "uint8")):
        f.create_dataset(name, shape=(n,), dtype=dtype, chunks=_row_chunks(n, (), dtype), fletcher32=True)
    params = f.create_group("params")
    for fname, (shape, dtype) in layout.param_fields.items():
        params.create_dataset(fname, shape=(n, *shape), dtype=dtype, chunks=_row_chunks(n, shape, dtype), fletcher32=True)


def _file_param_fields(f: h5py.File) -> dict[str, tuple[tuple[int, ...], str]]:
    out: dict[str, tuple[tuple[int, ...], str]] = {}
    group = f.get("params")
    if not isinstance(group, h5py.Group):
        return out

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            out[name] = (tuple(int(s) for s in obj.shape[1:]), obj.dtype.name)

    group.visititems(visit)
    return out


def _file_layout(f: h5py.File) -> StoreLayout:
    i = f["I"]
    return StoreLayout(count=int(i.shape[0]), height=int(i.shape[1]), width=int(i.shape[2]), param_fields=_file_param_fields(f))


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "unable to lock file" in text or "resource temporarily unavailable" in text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# --- tuple checks (shared by resume and verify) ---------------------------------------------------


def _check_tuple(arrays: Mapping[str, np.ndarray], height: int, width: int) -> list[str]:
    """Problems of one tuple's arrays (empty when consistent)."""
    problems = []
    for name in ARRAY_NAMES:
        a = arrays[name]
        shape = (height, width) if name == "M" else (height, width, 3)
        if a.shape != shape or a.dtype != np.uint8:
            problems.append(f"{name} has shape {a.shape} and dtype {a.dtype}, expected {shape} uint8")
    if problems:
        return problems
    m = arrays["M"]
    if m.max() > 1:
        problems.append("M is not binary (values other than 0 and 1)")
        return problems
    mask = m.astype(bool)
    if not mask.any():
        problems.append("M is empty (no pixel is 1)")
    outside = ~mask
    if not np.array_equal(arrays["I_T"], np.where(mask[..., None], 0, arrays["I"])):
        problems.append("I_T differs from I*(1-M)")
    if arrays["I_S"][outside].any():
        problems.append("I_S is not zero outside M")
    return problems


def _read_rows_tolerant(ds: h5py.Dataset) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, str]]]:
    """Read a row-chunked dataset chunk by chunk: ``(values, readable rows, failed ranges)``."""
    n = ds.shape[0]
    values = np.zeros(ds.shape, ds.dtype)
    ok = np.zeros(n, bool)
    failed = []
    step = ds.chunks[0] if ds.chunks else n
    for a in range(0, n, step):
        b = min(n, a + step)
        try:
            values[a:b] = ds[a:b]
            ok[a:b] = True
        except Exception as e:  # noqa: BLE001 - any HDF5 read failure means the rows are unusable
            failed.append((a, b, _first_line(e)))
    return values, ok, failed


class _RowBuffer:
    """Rows of a row-chunked dataset kept in memory until the next flush, written chunk-wise."""

    def __init__(self, ds: h5py.Dataset) -> None:
        self.ds = ds
        self.rows = ds.chunks[0]
        self.n = ds.shape[0]
        self.blocks: dict[int, np.ndarray] = {}

    def set(self, index: int, value: Any) -> None:
        c = index // self.rows
        block = self.blocks.get(c)
        if block is None:
            a = c * self.rows
            block = self.ds[a : min(self.n, a + self.rows)]
            self.blocks[c] = block
        block[index - c * self.rows] = value

    def flush(self) -> None:
        for c in sorted(self.blocks):
            a = c * self.rows
            self.ds[a : a + len(self.blocks[c])] = self.blocks[c]
        self.blocks.clear()


# --- writer ---------------------------------------------------------------------------------------


class TupleWriter:
    """Write a tuple file crash-safely: to ``<path>.partial``, renamed into place by :meth:`commit`.

    Use as a context manager; call :meth:`commit` once every index is written. Leaving the block
    without committing (an exception, Ctrl-C) flushes and closes the ``.partial`` file and leaves
    it for ``resume=True``; nothing is ever written at the final path before the commit.

    Parameters
    ----------
    path : path
        The final file.
    layout : StoreLayout
        Number of tuples, image size and parameter schema.
    attrs : mapping, optional
        The run's metadata (spec JSON, seed, sources, ...): JSON-able values, stored as root
        attributes (see the module docstring). Names in :data:`RESERVED_ATTRS` are refused.
    compression : str
        One of :data:`COMPRESSIONS`.
    overwrite : bool
        Replace an existing file at ``path``; the old file stays in place until :meth:`commit`
        replaces it. Without ``resume``, also discards a stale ``.partial``.
    resume : bool
        Finish the ``.partial`` file of an interrupted run made with the same layout, compression
        and attributes (except :data:`VOLATILE_ATTRS`); :class:`ResumeMismatchError` names the
        first difference. Tuples already safely written are kept (after re-checking them) and
        :meth:`pending` lists only the missing ones. When there is no ``.partial`` file this is
        a fresh run; when it cannot be opened at all, a fresh run with a :class:`StoreWarning`.
    flush_every : int
        Flush to disk every this many tuples (and at least every 5 s); at most about twice this
        many tuples are lost when the process is killed.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false, or a ``.partial`` exists and neither
        ``resume`` nor ``overwrite`` was given.
    ResumeMismatchError
        ``resume`` found a ``.partial`` made with other settings (it is left untouched).
    StoreError
        The ``.partial`` file is open in another process.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        layout: StoreLayout,
        *,
        attrs: Mapping[str, Any] | None = None,
        compression: str = DEFAULT_COMPRESSION,
        overwrite: bool = False,
        resume: bool = False,
        flush_every: int = _DEFAULT_FLUSH_EVERY,
    ) -> None:
        if not isinstance(layout, StoreLayout):
            raise SpecError(f"layout must be a StoreLayout, got {type(layout).__name__}")
        _compression_kwargs(compression)  # validates the name
        if int(flush_every) < 1:
            raise SpecError(f"flush_every must be at least 1, got {flush_every}")
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.layout = layout
        self.compression = compression
        self.flush_every = int(flush_every)
        self._attrs, self._json_names = self._encode_attrs(attrs or {})
        self._run_names = sorted(self._attrs)
        self._pid = os.getpid()
        self._f: h5py.File | None = None
        self._committed = False
        self._written = np.zeros(layout.count, bool)
        self._unflagged: list[int] = []
        self._last_flush = time.monotonic()
        #: Tuples kept from the ``.partial`` file by a resume (0 for a fresh run).
        self.recovered = 0

        check_output(self.path, overwrite=overwrite, resume=resume)
        salvage = self.partial.with_name(self.path.name + _SALVAGE_SUFFIX)
        if salvage.exists():
            salvage.unlink()  # left by a resume that was itself interrupted; the .partial is intact
        if self.partial.exists():
            if resume:
                self._resume()
                return
            self._check_not_in_use(self.partial)
            self.partial.unlink()
        self._f = self._create(self.partial)

    # -- setup ---------------------------------------------------------------------------------

    @staticmethod
    def _encode_attrs(attrs: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        out, json_names = {}, []
        for name, value in attrs.items():
            if not isinstance(name, str) or not name:
                raise SpecError(f"attribute names must be non-empty strings, got {name!r}")
            if name in RESERVED_ATTRS:
                raise SpecError(f"attribute {name!r} is reserved by the store; use another name")
            stored, is_json = _encode_attr(name, value)
            out[name] = stored
            if is_json:
                json_names.append(name)
        return out, json_names

    def _create(self, path: Path) -> h5py.File:
        f = h5py.File(path, "w-", rdcc_nbytes=0, locking="best-effort")
        try:
            _create_datasets(f, self.layout, self.compression)
            a = f.attrs
            a["format"] = FORMAT_NAME
            a["format_version"] = FORMAT_VERSION
            a["complete"] = 0
            a["count"] = self.layout.count
            a["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            a["compression"] = self.compression
            a["pastegen_version"] = _pastegen_version()
            for name, value in self._attrs.items():
                a[name] = value
            a["json_attrs"] = json.dumps(sorted(self._json_names))
            a["run_attrs"] = json.dumps(self._run_names)
            f.flush()
        except BaseException:
            f.close()
            path.unlink(missing_ok=True)
            raise
        self._bind(f)
        return f

    def _bind(self, f: h5py.File) -> None:
        self._f = f
        self._ds = {name: f[name] for name in ARRAY_NAMES}
        self._params = {name: _RowBuffer(f["params"][name]) for name in self.layout.param_fields}
        self._source = _RowBuffer(f["source_index"])
        self._flags = _RowBuffer(f["written"])

    @staticmethod
    def _check_not_in_use(path: Path) -> None:
        try:
            with h5py.File(path, "r", locking="best-effort"):
                pass
        except OSError as e:
            if _is_lock_error(e):
                raise StoreError(f"{path} is open in another process (a run still going?); stop it first") from None

    def _resume(self) -> None:
        try:
            old = h5py.File(self.partial, "r", locking="best-effort")
        except OSError as e:
            if _is_lock_error(e):
                raise StoreError(f"{self.partial} is open in another process (a run still going?); stop it or wait for it") from None
            self._start_over(f"it cannot be opened ({_first_line(e)})")
            return
        try:
            try:
                stored = _read_attrs(old)
                layout = _file_layout(old) if "I" in old else None
            except Exception as e:  # noqa: BLE001 - damaged metadata
                self._start_over(f"its metadata cannot be read ({_first_line(e)})")
                return
            self._check_resume_match(stored, layout)
            salvage = self.partial.with_name(self.path.name + _SALVAGE_SUFFIX)
            self._f = self._create(salvage)
            # keep attributes the old run added with set_attrs() (the caller may set them again)
            late = {k: v for k, v in stored.items() if k not in RESERVED_ATTRS and k not in self._attrs}
            if late:
                self._write_attrs(late)
            try:
                self.recovered = self._salvage(old)
                self._flush()
            except BaseException:
                self._f.close()
                salvage.unlink(missing_ok=True)
                raise
        finally:
            old.close()
        os.replace(salvage, self.partial)

    def _start_over(self, why: str) -> None:
        warnings.warn(f"{self.partial}: {why}; starting over in a fresh file", StoreWarning, stacklevel=4)
        self.partial.unlink()
        self._f = self._create(self.partial)

    def _check_resume_match(self, stored: dict[str, Any], layout: StoreLayout | None) -> None:
        def mismatch(what: str) -> ResumeMismatchError:
            return ResumeMismatchError(
                f"{self.partial} was made with other settings ({what}); resume with the same settings or pass --overwrite to start over"
            )

        if stored.get("format") != FORMAT_NAME:
            raise mismatch("it is not a pastegen tuple file")
        if stored.get("format_version") != FORMAT_VERSION:
            raise mismatch(f"format version {stored.get('format_version')!r}, this pastegen writes {FORMAT_VERSION}")
        if layout is None:
            raise mismatch("it has no I dataset")
        mine = self.layout
        for name in ("count", "height", "width"):
            if getattr(layout, name) != getattr(mine, name):
                raise mismatch(f"{name}: partial file has {getattr(layout, name)}, this run {getattr(mine, name)}")
        theirs = layout.param_fields
        for name in sorted(set(theirs) | set(mine.param_fields)):
            if name not in mine.param_fields:
                raise mismatch(f"param field {name!r} is in the partial file but not in this run")
            if name not in theirs:
                raise mismatch(f"param field {name!r} is in this run but not in the partial file")
            if theirs[name] != mine.param_fields[name]:
                (s1, d1), (s2, d2) = theirs[name], mine.param_fields[name]
                raise mismatch(f"param field {name!r}: partial file has shape {s1} {d1}, this run {s2} {d2}")
        if stored.get("compression") != self.compression:
            raise mismatch(f"compression: partial file uses {stored.get('compression')}, this run {self.compression}")
        theirs_names = set(_json_list(stored.get("run_attrs"))) - VOLATILE_ATTRS
        mine_names = set(self._run_names) - VOLATILE_ATTRS
        mine_values = self._decoded_attrs()
        for name in sorted(theirs_names | mine_names):
            if name not in mine_names:
                raise mismatch(f"attribute {name!r}: partial file has {_short(stored.get(name))}, this run has none")
            if name not in theirs_names:
                raise mismatch(f"attribute {name!r}: partial file has none, this run has {_short(mine_values[name])}")
            if _canon(stored.get(name)) != _canon(mine_values[name]):
                raise mismatch(f"attribute {name!r}: partial file has {_short(stored.get(name))}, this run {_short(mine_values[name])}")

    def _decoded_attrs(self) -> dict[str, Any]:
        return {k: (json.loads(v) if k in self._json_names else v) for k, v in self._attrs.items()}

    def _salvage(self, old: h5py.File) -> int:
        """Copy the tuples of ``old`` that are flagged written and check out; returns how many."""
        n, h, w = self.layout.count, self.layout.height, self.layout.width
        flags, ok, _ = _read_rows_tolerant(old["written"])
        good = ok & (flags == 1)
        if not good.any():
            return 0
        src, ok, _ = _read_rows_tolerant(old["source_index"])
        good &= ok
        params = {}
        for name in self.layout.param_fields:
            params[name], ok, _ = _read_rows_tolerant(old["params"][name])
            good &= ok
        dss = {name: old[name] for name in ARRAY_NAMES}
        kept = 0
        for i in np.flatnonzero(good):
            i = int(i)
            arrays, raw = {}, {}
            try:
                for name, ds in dss.items():
                    offset = (i,) + (0,) * (ds.ndim - 1)
                    info = ds.id.get_chunk_info_by_coord(offset)
                    if info.byte_offset is None:
                        raise KeyError("chunk not allocated")
                    arrays[name] = ds[i]  # checks fletcher32
                    raw[name] = ds.id.read_direct_chunk(offset)
            except Exception:  # noqa: BLE001 - a torn or missing chunk: generate this tuple again
                continue
            if _check_tuple(arrays, h, w):
                continue
            for name, (mask, data) in raw.items():
                offset = (i,) + (0,) * (self._ds[name].ndim - 1)
                self._ds[name].id.write_direct_chunk(offset, data, mask)
            for name, buf in self._params.items():
                buf.set(i, params[name][i])
            self._source.set(i, src[i])
            self._mark(i)
            kept += 1
        return kept

    # -- writing -------------------------------------------------------------------------------

    def _live(self) -> h5py.File:
        if self._committed:
            raise StoreError(f"{self.path} was already committed")
        if self._f is None or not self._f.id.valid:
            raise StoreError(f"the writer of {self.path} is closed; reopen it with resume=True")
        if os.getpid() != self._pid:
            raise StoreError("a TupleWriter cannot be used in a forked process; write from the process that created it")
        return self._f

    def pending(self) -> list[int]:
        """Indices not written yet (all of them for a fresh file), in increasing order."""
        return np.flatnonzero(~self._written).tolist()

    def write(self, index: int, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any], source_index: int) -> None:
        """Store tuple ``index``.

        Parameters
        ----------
        index : int
            ``0 <= index < count``; each index is written once.
        arrays : mapping
            ``I``, ``I_T``, ``I_S`` as (H, W, 3) uint8 and ``M`` as (H, W) uint8 of 0/1. Only shapes,
            dtypes and ``M``'s values are checked here; :func:`verify` checks the rest.
        params : mapping
            One value per field of the layout, castable to the field's dtype and shape.
        source_index : int
            Index of the source photo in the run's source list.
        """
        self._live()
        try:
            i = operator.index(index)
        except TypeError:
            raise StoreError(f"tuple index must be an integer, got {index!r}") from None
        if not 0 <= i < self.layout.count:
            raise IndexError(f"tuple index {i} out of range for a file of {self.layout.count} tuples")
        if self._written[i]:
            raise StoreError(f"tuple {i} was already written to {self.partial}")
        h, w = self.layout.height, self.layout.width
        if set(arrays) != set(ARRAY_NAMES):
            raise StoreError(f"tuple {i}: arrays must be exactly {', '.join(ARRAY_NAMES)}, got {', '.join(sorted(arrays))}")
        checked = {}
        for name in ARRAY_NAMES:
            a = np.asarray(arrays[name])
            shape = (h, w) if name == "M" else (h, w, 3)
            if a.shape != shape or a.dtype != np.uint8:
                raise StoreError(f"tuple {i}: {name} must be {shape} uint8, got {a.shape} {a.dtype}")
            checked[name] = a
        if checked["M"].max() > 1:
            raise StoreError(f"tuple {i}: M must hold only 0 and 1")
        fields = self.layout.param_fields
        if set(params) != set(fields):
            missing, extra = sorted(set(fields) - set(params)), sorted(set(params) - set(fields))
            raise StoreError(f"tuple {i}: params do not match the layout (missing {missing}, unexpected {extra})")
        values = {}
        for name, (shape, dtype) in fields.items():
            v = np.asarray(params[name])
            if v.shape != shape or v.dtype.kind not in "biuf":
                raise StoreError(f"tuple {i}: param {name!r} must be {shape} {dtype}, got {v.shape} {v.dtype}")
            cv = v.astype(dtype)
            if cv.dtype != v.dtype and not np.array_equal(cv.astype(v.dtype), v, equal_nan=v.dtype.kind == "f"):
                raise StoreError(f"tuple {i}: param {name!r} has values that {dtype} cannot hold exactly")
            values[name] = cv
        try:
            src = operator.index(source_index)
        except TypeError:
            raise StoreError(f"tuple {i}: source_index must be an integer, got {source_index!r}") from None
        for name in ARRAY_NAMES:
            self._ds[name][i] = checked[name]
        for name, v in values.items():
            self._params[name].set(i, v)
        self._source.set(i, src)
        self._mark(i)

    def _mark(self, i: int) -> None:
        self._written[i] = True
        self._unflagged.append(i)
        if len(self._unflagged) >= self.flush_every or time.monotonic() - self._last_flush > _FLUSH_SECONDS:
            self._flush()

    def _flush(self) -> None:
        """Data, parameters and metadata to disk; then the ``written`` flags of what was flushed."""
        f = self._f
        for buf in self._params.values():
            buf.flush()
        self._source.flush()
        f.flush()
        if self._unflagged:
            for i in self._unflagged:
                self._flags.set(i, 1)
            self._flags.flush()
            self._unflagged.clear()
        self._last_flush = time.monotonic()

    def flush(self) -> None:
        """Flush now (the writer also flushes on its own every ``flush_every`` tuples)."""
        self._live()
        self._flush()

    def _write_attrs(self, attrs: Mapping[str, Any]) -> None:
        encoded, json_names = self._encode_attrs(attrs)
        a = self._f.attrs
        names = set(_json_list(_decode_value(a["json_attrs"])))
        for name, value in encoded.items():
            if name in a:
                del a[name]
            a[name] = value
            names.discard(name)
        names.update(json_names)
        a["json_attrs"] = json.dumps(sorted(names))

    def set_attrs(self, **attrs: Any) -> None:
        """Add or replace root attributes (e.g. a summary at the end); same rules as ``attrs``."""
        self._live()
        self._write_attrs(attrs)

    def commit(self) -> Path:
        """Check every index was written, mark the file complete and rename it into place.

        Returns
        -------
        Path
            The final path.

        Raises
        ------
        IncompleteFileError
            Some indices were not written (the writer stays open).
        """
        f = self._live()
        missing = self.pending()
        if missing:
            raise IncompleteFileError(
                f"cannot commit {self.path}: {len(missing)} of {self.layout.count} tuples not written (first: {missing[0]})"
            )
        self._flush()
        f.attrs["complete"] = 1
        f.flush()
        f.close()
        _fsync(self.partial)
        os.replace(self.partial, self.path)
        _fsync_dir(self.path.parent)
        self._committed = True
        return self.path

    def close(self) -> None:
        """Flush and close without committing; the ``.partial`` file stays for ``resume=True``."""
        f = self._f
        if self._committed or f is None or not f.id.valid or os.getpid() != self._pid:
            return
        try:
            self._flush()
        finally:
            f.close()

    def __enter__(self) -> "TupleWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if not self._committed and self._f is not None and self._f.id.valid:
                warnings.warn(
                    f"TupleWriter for {self.path} closed without commit(); {self.partial} is left for resume=True",
                    StoreWarning,
                    stacklevel=2,
                )
            self.close()
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never mask the exception that ended the block
            f = self._f
            if f is not None and f.id.valid:
                try:
                    f.close()
                except Exception:  # noqa: BLE001
                    pass

    def __repr__(self) -> str:
        state = "committed" if self._committed else f"{int(self._written.sum())}/{self.layout.count} written"
        return f"TupleWriter({str(self.path)!r}, {state})"


# --- reader ---------------------------------------------------------------------------------------


def _open_checked(path: Path, allow_incomplete: bool, check_shapes: bool = True) -> h5py.File:
    """Open ``path`` read-only after the refusals of :func:`open_tuples`."""
    if not path.exists():
        part = partial_path(path)
        if part.exists():
            raise IncompleteFileError(
                f"{path} does not exist but {part} does (an interrupted run); finish it with `pastegen make --resume`"
            )
        raise MissingFileError(f"{path} does not exist")
    if path.is_dir():
        raise IncompatibleFileError(f"{path} is a directory, not a pastegen tuple file")
    is_partial = path.name.endswith(PARTIAL_SUFFIX)
    try:
        hdf5 = h5py.is_hdf5(path)
    except OSError as e:
        raise IncompatibleFileError(f"{path} cannot be read ({_first_line(e)})") from None
    if not hdf5:
        raise IncompatibleFileError(f"{path} is not an HDF5 file, so not a pastegen tuple file")
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError as e:
        if is_partial:
            raise IncompleteFileError(
                f"{path} is the damaged file of an interrupted run ({_first_line(e)}); finish it with `pastegen make --resume`"
            ) from None
        raise CorruptFileError(f"{path} cannot be opened ({_first_line(e)}); the file is damaged, generate it again") from None
    try:
        attrs = _read_attrs(f)
        if attrs.get("format") != FORMAT_NAME:
            raise IncompatibleFileError(f"{path} is an HDF5 file but not a pastegen tuple file (no format={FORMAT_NAME!r} attribute)")
        version = attrs.get("format_version")
        if version != FORMAT_VERSION:
            raise IncompatibleFileError(
                f"{path} has tuple format version {version}; this pastegen ({_pastegen_version()}) reads version {FORMAT_VERSION}"
                + ("; upgrade pastegen" if isinstance(version, int) and version > FORMAT_VERSION else "; generate the file again")
            )
        if not allow_incomplete and (is_partial or attrs.get("complete") != 1):
            raise IncompleteFileError(
                f"{path} was not finished by its writer; finish it with `pastegen make --resume` (or read it with allow_incomplete=True)"
            )
        for name in (*ARRAY_NAMES, "source_index", "written"):
            if not isinstance(f.get(name), h5py.Dataset):
                raise CorruptFileError(f"{path} has no {name!r} dataset; the file is damaged, generate it again")
        if check_shapes:
            shape = f["I"].shape
            if len(shape) != 4 or shape[3] != 3:
                raise CorruptFileError(f"{path}: dataset I has shape {shape}, expected (N, H, W, 3); run `pastegen verify`")
            n, h, w = shape[:3]
            want = {"I_T": shape, "I_S": shape, "M": (n, h, w), "source_index": (n,), "written": (n,)}
            for name, expected in want.items():
                if f[name].shape != expected:
                    raise CorruptFileError(f"{path}: dataset {name} has shape {f[name].shape}, expected {expected}; run `pastegen verify`")
    except BaseException:
        f.close()
        raise
    return f


class TupleFile:
    """Read-only access to a tuple file; safe to pickle and to use after ``fork``.

    The HDF5 file is opened on first access and re-opened when the process id changes (a forked
    DataLoader worker); pickling keeps only the path. Use :func:`open_tuples` to create one.

    Attributes
    ----------
    path : Path
    height, width : int
    attrs : dict
        Root attributes, JSON ones decoded.
    param_fields : dict
        ``{"component/field": (shape, dtype)}``.
    """

    def __init__(self, path: str | os.PathLike, *, allow_incomplete: bool = False) -> None:
        self.path = Path(path)
        self._allow_incomplete = bool(allow_incomplete)
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._ds: dict[str, h5py.Dataset] = {}
        self._pds: dict[str, h5py.Dataset] = {}
        f = _open_checked(self.path, self._allow_incomplete)
        try:
            layout = _file_layout(f)
            self.attrs: dict[str, Any] = _read_attrs(f)
            self._count = layout.count
            self.height = layout.height
            self.width = layout.width
            self.param_fields = dict(layout.param_fields)
            self._written = None
            if self._allow_incomplete and self.attrs.get("complete") != 1:
                flags, ok, _ = _read_rows_tolerant(f["written"])
                self._written = ok & (flags == 1)
        finally:
            f.close()

    # -- metadata ------------------------------------------------------------------------------

    @property
    def layout(self) -> StoreLayout:
        return StoreLayout(self._count, self.height, self.width, self.param_fields)

    @property
    def spec(self) -> dict | None:
        """``attrs["spec"]`` as a dict (parsed when it was stored as a JSON string), or None."""
        spec = self.attrs.get("spec")
        if isinstance(spec, str):
            try:
                spec = json.loads(spec)
            except json.JSONDecodeError:
                return None
        return spec if isinstance(spec, dict) else None

    @property
    def seed(self) -> Any:
        return self.attrs.get("seed")

    @property
    def sources(self) -> list:
        return list(self.attrs.get("sources") or [])

    @property
    def skipped(self) -> list:
        return list(self.attrs.get("skipped") or [])

    @property
    def compression(self) -> str | None:
        return self.attrs.get("compression")

    @property
    def complete(self) -> bool:
        return self.attrs.get("complete") == 1

    def __len__(self) -> int:
        return self._count

    # -- data ----------------------------------------------------------------------------------

    def _handle(self) -> h5py.File:
        pid = os.getpid()
        if self._file is None or self._pid != pid or not self._file.id.valid:
            # after fork the parent's handle is dropped without closing it here
            self._file = _open_checked(self.path, self._allow_incomplete)
            self._pid = pid
            self._ds = {name: self._file[name] for name in (*ARRAY_NAMES, "source_index")}
            self._pds = {name: self._file["params"][name] for name in self.param_fields}
        return self._file

    def _index(self, i: Any) -> int:
        try:
            j = operator.index(i)
        except TypeError:
            raise TypeError(f"tuple indices must be integers, not {type(i).__name__}") from None
        if j < 0:
            j += self._count
        if not 0 <= j < self._count:
            raise IndexError(f"tuple index {i} out of range for {self.path.name} ({self._count} tuples)")
        if self._written is not None and not self._written[j]:
            raise IncompleteFileError(f"tuple {j} of {self.path} was not written (an interrupted run)")
        return j

    def _read(self, ds: h5py.Dataset, i: int, what: str) -> Any:
        try:
            return ds[i]
        except OSError as e:
            raise CorruptFileError(
                f"{self.path}: tuple {i}: {what} cannot be read ({_first_line(e)}); the file is damaged, run `pastegen verify`"
            ) from None

    def read_array(self, name: str, i: int) -> np.ndarray:
        """One of :data:`ARRAY_NAMES` of tuple ``i``."""
        if name not in ARRAY_NAMES:
            raise KeyError(f"unknown array {name!r}; expected one of {', '.join(ARRAY_NAMES)}")
        j = self._index(i)
        self._handle()
        return self._read(self._ds[name], j, name)

    def params(self, i: int) -> dict[str, Any]:
        """``{field: value}`` of tuple ``i`` (arrays, or NumPy scalars for shape ``()``)."""
        j = self._index(i)
        self._handle()
        return {name: self._read(ds, j, f"params/{name}") for name, ds in self._pds.items()}

    def __getitem__(self, i: int) -> dict[str, Any]:
        """``{"I", "I_T", "I_S", "M": arrays, "params": {field: value}, "source_index": int}``."""
        j = self._index(i)
        self._handle()
        out: dict[str, Any] = {name: self._read(self._ds[name], j, name) for name in ARRAY_NAMES}
        out["params"] = {name: self._read(ds, j, f"params/{name}") for name, ds in self._pds.items()}
        out["source_index"] = int(self._read(self._ds["source_index"], j, "source_index"))
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(self._count):
            if self._written is None or self._written[i]:
                yield self[i]

    def close(self) -> None:
        """Close the HDF5 file (it is re-opened on the next access)."""
        f, self._file = self._file, None
        self._ds, self._pds = {}, {}
        if f is not None and self._pid == os.getpid() and f.id.valid:
            f.close()

    def __enter__(self) -> "TupleFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path), "allow_incomplete": self._allow_incomplete}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], allow_incomplete=state["allow_incomplete"])

    def __repr__(self) -> str:
        return f"TupleFile({str(self.path)!r}, {self._count} tuples of {self.height}x{self.width})"


def open_tuples(path: str | os.PathLike, *, allow_incomplete: bool = False) -> TupleFile:
    """Open a tuple file for reading.

    Parameters
    ----------
    path : path
    allow_incomplete : bool
        Also open a file not marked complete (or a ``.partial``); reading an index that was not
        written then raises :class:`IncompleteFileError`.

    Raises
    ------
    MissingFileError
        The file does not exist (:class:`IncompleteFileError` when its ``.partial`` does).
    IncompatibleFileError
        Not an HDF5 file, not a pastegen tuple file, or another format version.
    IncompleteFileError
        The file was not finished by its writer.
    CorruptFileError
        HDF5 cannot open the file, or a dataset is missing.
    """
    return TupleFile(path, allow_incomplete=allow_incomplete)


# --- verify ---------------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """Result of :func:`verify`.

    Attributes
    ----------
    ok : bool
        No problem found.
    count : int
        Tuples in the file.
    problems : list of str
        One line per problem (at most 200 listed; the last line says how many more there were).
    checked : int
        Tuples whose four arrays were read and checked.
    """

    ok: bool
    count: int
    problems: list[str]
    checked: int


def verify(path: str | os.PathLike, *, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Read every chunk of a tuple file and check every tuple.

    Checks: the store's attributes are present; datasets have the expected shapes and dtypes;
    every chunk passes its ``fletcher32`` checksum; every tuple is flagged written; ``M`` is
    binary and not empty; ``I_T == I·(1−M)`` exactly; ``I_S`` is zero outside ``M``; source
    indices are within the stored source list.

    Parameters
    ----------
    path : path
    progress : callable, optional
        Called as ``progress(checked, count)`` after each tuple.

    Returns
    -------
    VerifyReport

    Raises
    ------
    The errors of :func:`open_tuples` for files it refuses (missing, foreign, incomplete).
    """
    path = Path(path)
    f = _open_checked(path, allow_incomplete=False, check_shapes=False)
    problems: list[str] = []
    extra = 0

    def problem(text: str) -> None:
        nonlocal extra
        if len(problems) < _MAX_PROBLEMS:
            problems.append(text)
        else:
            extra += 1

    checked = 0
    try:
        attrs = _read_attrs(f)
        for name in RESERVED_ATTRS:
            if name not in attrs:
                problem(f"attribute {name!r} is missing")
        n = int(f["I"].shape[0]) if f["I"].ndim else 0
        h, w = (int(f["I"].shape[1]), int(f["I"].shape[2])) if f["I"].ndim == 4 else (0, 0)
        if attrs.get("count") != n:
            problem(f"attribute count={attrs.get('count')!r} but the datasets hold {n} tuples")
        expected = {"I": (n, h, w, 3), "I_T": (n, h, w, 3), "I_S": (n, h, w, 3), "M": (n, h, w), "source_index": (n,), "written": (n,)}
        dtypes = {"source_index": np.int64, "written": np.uint8}
        shapes_ok = True
        for name, shape in expected.items():
            ds = f[name]
            dt = np.dtype(dtypes.get(name, np.uint8))
            if ds.shape != shape or ds.dtype != dt:
                problem(f"dataset {name} has shape {ds.shape} {ds.dtype}, expected {shape} {dt}")
                shapes_ok = False
            if ds.fletcher32 is False:
                problem(f"dataset {name} has no fletcher32 checksum")
        for name in _file_param_fields(f):
            ds = f["params"][name]
            if ds.shape[:1] != (n,):
                problem(f"dataset params/{name} has {ds.shape[0] if ds.ndim else 0} rows, expected {n}")
                continue
            _, _, failed = _read_rows_tolerant(ds)
            for a, b, err in failed:
                problem(f"tuples {a}-{b - 1}: params/{name} fails its checksum or cannot be read ({err})")
        if shapes_ok:
            flags, ok, failed = _read_rows_tolerant(f["written"])
            for a, b, err in failed:
                problem(f"tuples {a}-{b - 1}: the written flags fail their checksum or cannot be read ({err})")
            unflagged = np.flatnonzero(ok & (flags != 1))
            if len(unflagged):
                problem(f"{len(unflagged)} tuple(s) not flagged as written (first: {int(unflagged[0])})")
            src, ok, failed = _read_rows_tolerant(f["source_index"])
            for a, b, err in failed:
                problem(f"tuples {a}-{b - 1}: source_index fails its checksum or cannot be read ({err})")
            sources = attrs.get("sources")
            if isinstance(sources, list):
                out_of_range = np.flatnonzero(ok & ((src < 0) | (src >= max(len(sources), 1))))
                if len(sources) and len(out_of_range):
                    problem(f"{len(out_of_range)} tuple(s) have a source_index outside the {len(sources)} sources (first: {int(out_of_range[0])})")
            dss = {name: f[name] for name in ARRAY_NAMES}
            for i in range(n):
                arrays = {}
                for name, ds in dss.items():
                    try:
                        arrays[name] = ds[i]
                    except Exception as e:  # noqa: BLE001 - reported, not raised
                        problem(f"tuple {i}: {name} fails its checksum or cannot be read ({_first_line(e)})")
                if len(arrays) == len(dss):
                    for p in _check_tuple(arrays, h, w):
                        problem(f"tuple {i}: {p}")
                checked += 1
                if progress is not None:
                    progress(checked, n)
    finally:
        f.close()
    if extra:
        problems.append(f"... and {extra} more problem(s)")
    return VerifyReport(ok=not problems, count=n, problems=problems, checked=checked)
