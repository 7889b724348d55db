"""Fork-safe reading of tuple files: :class:`TupleFile` and :func:`open_tuples`.

Files of format versions 1 and 2 (:data:`~pastegen.store.schema.READABLE_VERSIONS`) read the
same: the arrays a file does not store (its ``derived`` attribute; ``I_T`` in format 2) are
rebuilt from the stored ones (:func:`~pastegen.store.consistency.rebuild`), with the dtype, shape
and values a format-1 file would give.
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .._version import __version__
from ..errors import CorruptFileError, IncompatibleFileError, IncompleteFileError, MissingFileError, MissingShardError, first_line
from .attributes import read_attrs
from .consistency import rebuild
from .rows import read_rows_tolerant
from .schema import (
    ARRAY_NAMES,
    DERIVABLE,
    FORMAT_NAME,
    PARTIAL_SUFFIX,
    READABLE_VERSIONS,
    StoreLayout,
    file_layout,
    parse_derived,
    partial_path,
    stored_arrays,
)


def _versions_text() -> str:
    v = [str(x) for x in READABLE_VERSIONS]
    return f"version {v[0]}" if len(v) == 1 else f"versions {', '.join(v[:-1])} and {v[-1]}"


def file_derived(attrs: dict[str, Any], path: Path) -> tuple[str, ...]:
    """The arrays a file does not store (its ``derived`` attribute), checked against its version.

    Raises
    ------
    IncompatibleFileError
        The file derives an array this pastegen cannot rebuild.
    CorruptFileError
        A format-1 file (every array stored) names derived arrays.
    """
    derived = parse_derived(attrs.get("derived"))
    unknown = [d for d in derived if d not in DERIVABLE]
    if unknown:
        raise IncompatibleFileError(
            f"{path} does not store {', '.join(unknown)} and this pastegen ({__version__}) cannot rebuild it (only {', '.join(DERIVABLE)}); upgrade pastegen"
        )
    if derived and attrs.get("format_version") == 1:
        raise CorruptFileError(
            f"{path} is a format 1 file, which stores every array, but its attribute derived is {attrs.get('derived')!r}; the file is damaged"
        )
    return derived


def open_checked(path: Path, allow_incomplete: bool, check_shapes: bool = True) -> h5py.File:
    """Open ``path`` read-only after the refusals of :func:`open_tuples` (shared with :func:`~pastegen.store.verify`).

    ``check_shapes``: also refuse datasets of unexpected shapes (verify reports them instead).
    """
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
        raise IncompatibleFileError(f"{path} cannot be read ({first_line(e)})") from None
    if not hdf5:
        raise IncompatibleFileError(f"{path} is not an HDF5 file, so not a pastegen tuple file")
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError as e:
        if is_partial:
            raise IncompleteFileError(
                f"{path} is the damaged file of an interrupted run ({first_line(e)}); finish it with `pastegen make --resume`"
            ) from None
        raise CorruptFileError(f"{path} cannot be opened ({first_line(e)}); the file is damaged, generate it again") from None
    try:
        attrs = read_attrs(f)
        if attrs.get("format") != FORMAT_NAME:
            raise IncompatibleFileError(f"{path} is an HDF5 file but not a pastegen tuple file (no format={FORMAT_NAME!r} attribute)")
        version = attrs.get("format_version")
        if version not in READABLE_VERSIONS:
            raise IncompatibleFileError(
                f"{path} has tuple format version {version}; this pastegen ({__version__}) reads {_versions_text()}"
                + ("; upgrade pastegen" if isinstance(version, int) and version > max(READABLE_VERSIONS) else "; generate the file again")
            )
        stored = stored_arrays(file_derived(attrs, path))
        if not allow_incomplete and (is_partial or attrs.get("complete") != 1):
            raise IncompleteFileError(
                f"{path} was not finished by its writer; finish it with `pastegen make --resume` (or read it with allow_incomplete=True)"
            )
        for name in (*stored, "source_index", "written"):
            if not isinstance(f.get(name), h5py.Dataset):
                raise CorruptFileError(f"{path} has no {name!r} dataset; the file is damaged, generate it again")
        _check_virtual_sources(f, path)
        if check_shapes:
            shape = f["I"].shape
            if len(shape) != 4 or shape[3] != 3:
                raise CorruptFileError(f"{path}: dataset I has shape {shape}, expected (N, H, W, 3); run `pastegen verify`")
            n, h, w = shape[:3]
            want = {"I_T": shape, "I_S": shape, "M": (n, h, w), "source_index": (n,), "written": (n,)}
            for name, expected in want.items():
                if name not in stored and name in ARRAY_NAMES:
                    continue
                if f[name].shape != expected:
                    raise CorruptFileError(f"{path}: dataset {name} has shape {f[name].shape}, expected {expected}; run `pastegen verify`")
    except BaseException:
        f.close()
        raise
    return f


def virtual_source_files(f: h5py.File, path: Path) -> dict[str, Path | None]:
    """``{file name stored in the mapping: the file HDF5 reads}`` of every virtual dataset of ``f``.

    A combined file (:func:`pastegen.shards.combine`) maps its shard files through HDF5 virtual
    datasets. HDF5 resolves a relative name against the combined file's folder and, for an absolute
    name that does not exist, tries its base name there; the value is None when neither exists
    (HDF5 would then read the fill value, silently). Empty for an ordinary file.
    """
    names: set[str] = set()

    def visit(_: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and obj.is_virtual:
            names.update(m.file_name for m in obj.virtual_sources() if m.file_name != ".")

    f.visititems(visit)
    out: dict[str, Path | None] = {}
    for name in sorted(names):
        p = Path(name)
        candidates = [p, path.parent / p.name] if p.is_absolute() else [path.parent / p]
        out[name] = next((c for c in candidates if c.is_file()), None)
    return out


def _check_virtual_sources(f: h5py.File, path: Path) -> None:
    if not f["I"].is_virtual:
        return
    for name, found in virtual_source_files(f, path).items():
        if found is None:
            raise MissingShardError(
                f"{path} is a combined file but its shard {name} is missing (looked for {path.parent.absolute() / name}); "
                "put the shard files back beside it or combine the shards again"
            )


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
    format_version : int
        1 (every array stored) or 2.
    derived : tuple of str
        Arrays the file does not store, rebuilt on reading (``("I_T",)`` in format 2).
    stored : tuple of str
        The image datasets the file holds.
    """

    def __init__(self, path: str | os.PathLike, *, allow_incomplete: bool = False) -> None:
        self.path = Path(path)
        self._allow_incomplete = bool(allow_incomplete)
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._ds: dict[str, h5py.Dataset] = {}
        self._pds: dict[str, h5py.Dataset] = {}
        f = open_checked(self.path, self._allow_incomplete)
        try:
            layout = file_layout(f)
            self.attrs: dict[str, Any] = read_attrs(f)
            self.format_version = int(self.attrs["format_version"])
            self.derived = file_derived(self.attrs, self.path)
            self.stored = stored_arrays(self.derived)
            self._count = layout.count
            self.height = layout.height
            self.width = layout.width
            self.param_fields = dict(layout.param_fields)
            self._written = None
            if self._allow_incomplete and self.attrs.get("complete") != 1:
                flags, ok, _ = read_rows_tolerant(f["written"])
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
            self._file = open_checked(self.path, self._allow_incomplete)
            self._pid = pid
            self._ds = {name: self._file[name] for name in (*self.stored, "source_index")}
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
                f"{self.path}: tuple {i}: {what} cannot be read ({first_line(e)}); the file is damaged, run `pastegen verify`"
            ) from None

    def read_array(self, name: str, i: int) -> np.ndarray:
        """One of :data:`ARRAY_NAMES` of tuple ``i`` (a derived one rebuilt from those it derives from).

        To read several arrays of a tuple, :meth:`read_arrays` reads each stored dataset once.
        """
        if name not in ARRAY_NAMES:
            raise KeyError(f"unknown array {name!r}; expected one of {', '.join(ARRAY_NAMES)}")
        return self.read_arrays(i, (name,))[name]

    def read_arrays(self, i: int, names: Iterable[str] = ARRAY_NAMES) -> dict[str, np.ndarray]:
        """``{name: array}`` of tuple ``i`` for ``names`` (default: all four), in that order.

        Each stored dataset is read once; derived arrays (``I_T`` of a format-2 file) are rebuilt
        from the stored ``I`` and ``M``: uint8, with the shape and values a format-1 file stores.
        """
        names = tuple(names)
        for name in names:
            if name not in ARRAY_NAMES:
                raise KeyError(f"unknown array {name!r}; expected one of {', '.join(ARRAY_NAMES)}")
        j = self._index(i)
        self._handle()
        wanted = [n for n in names if n in self.stored]
        rebuilt = [n for n in names if n not in self.stored]
        if rebuilt:  # what the derived arrays are rebuilt from (I and M)
            wanted += [n for n in ("I", "M") if n not in wanted]
        got = {name: self._read(self._ds[name], j, name) for name in self.stored if name in wanted}
        for name in rebuilt:
            got[name] = rebuild(name, got)
        return {name: got[name] for name in names}

    def params(self, i: int) -> dict[str, Any]:
        """``{field: value}`` of tuple ``i`` (arrays, or NumPy scalars for shape ``()``)."""
        j = self._index(i)
        self._handle()
        return {name: self._read(ds, j, f"params/{name}") for name, ds in self._pds.items()}

    def __getitem__(self, i: int) -> dict[str, Any]:
        """``{"I", "I_T", "I_S", "M": arrays, "params": {field: value}, "source_index": int}``."""
        j = self._index(i)
        self._handle()
        out: dict[str, Any] = dict(self.read_arrays(j))
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

    def __enter__(self) -> TupleFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path), "allow_incomplete": self._allow_incomplete}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, state["path"], allow_incomplete=state["allow_incomplete"])

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
        Not an HDF5 file, not a pastegen tuple file, or a format version other than 1 and 2.
    IncompleteFileError
        The file was not finished by its writer.
    CorruptFileError
        HDF5 cannot open the file, or a dataset is missing.
    """
    return TupleFile(path, allow_incomplete=allow_incomplete)
