"""Checking tuple files: :func:`verify` and :class:`VerifyReport`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import first_line
from .attributes import read_attrs
from .consistency import tuple_problems
from .reader import file_derived, open_checked
from .rows import read_rows_tolerant
from .schema import COMPRESSIONS, OPTIONAL_ATTRS, RESERVED_ATTRS, file_param_fields, parse_uncompressed, stored_arrays

_MAX_PROBLEMS = 200


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
        Tuples whose stored arrays were read and checked.
    """

    ok: bool
    count: int
    problems: list[str]
    checked: int


def verify(path: str | os.PathLike, *, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Read every chunk of a tuple file and check every tuple.

    Checks: the store's attributes are present; datasets have the expected shapes and dtypes;
    every chunk passes its ``fletcher32`` checksum and no chunk skipped it; the chunks of the
    datasets named by the ``uncompressed`` attribute (:data:`~pastegen.store.UNCOMPRESSED`) are
    stored unfiltered; every tuple is flagged written; ``M`` is
    binary and not empty; ``I_T == I·(1−M)`` exactly where ``I_T`` is stored (format 1; in
    format 2 it is rebuilt so, from ``I`` and ``M``, whose chunks are checked); ``I_S`` is zero
    outside ``M``; source indices are within the stored source list.

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
    f = open_checked(path, allow_incomplete=False, check_shapes=False)
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
        attrs = read_attrs(f)
        derived = file_derived(attrs, path)
        stored = stored_arrays(derived)
        for name in RESERVED_ATTRS:
            if name not in attrs and name not in OPTIONAL_ATTRS:
                problem(f"attribute {name!r} is missing")
        n = int(f["I"].shape[0]) if f["I"].ndim else 0
        h, w = (int(f["I"].shape[1]), int(f["I"].shape[2])) if f["I"].ndim == 4 else (0, 0)
        if attrs.get("count") != n:
            problem(f"attribute count={attrs.get('count')!r} but the datasets hold {n} tuples")
        expected = {"I": (n, h, w, 3), "I_T": (n, h, w, 3), "I_S": (n, h, w, 3), "M": (n, h, w), "source_index": (n,), "written": (n,)}
        for name in derived:
            del expected[name]
            if name in f:
                problem(f"dataset {name} is present, but the file derives {name} (attribute derived) and readers ignore it")
        dtypes = {"source_index": np.int64, "written": np.uint8}
        shapes_ok = True
        for name, shape in expected.items():
            ds = f[name]
            dt = np.dtype(dtypes.get(name, np.uint8))
            if ds.shape != shape or ds.dtype != dt:
                problem(f"dataset {name} has shape {ds.shape} {ds.dtype}, expected {shape} {dt}")
                shapes_ok = False
            if ds.fletcher32 is False and not ds.is_virtual:  # a combined file's shards carry the checksums
                problem(f"dataset {name} has no fletcher32 checksum")
        for name in file_param_fields(f):
            ds = f["params"][name]
            if ds.shape[:1] != (n,):
                problem(f"dataset params/{name} has {ds.shape[0] if ds.ndim else 0} rows, expected {n}")
                continue
            _, _, failed = read_rows_tolerant(ds)
            for a, b, err in failed:
                problem(f"tuples {a}-{b - 1}: params/{name} fails its checksum or cannot be read ({err})")
        if shapes_ok:
            flags, ok, failed = read_rows_tolerant(f["written"])
            for a, b, err in failed:
                problem(f"tuples {a}-{b - 1}: the written flags fail their checksum or cannot be read ({err})")
            unflagged = np.flatnonzero(ok & (flags != 1))
            if len(unflagged):
                problem(f"{len(unflagged)} tuple(s) not flagged as written (first: {int(unflagged[0])})")
            src, ok, failed = read_rows_tolerant(f["source_index"])
            for a, b, err in failed:
                problem(f"tuples {a}-{b - 1}: source_index fails its checksum or cannot be read ({err})")
            sources = attrs.get("sources")
            if isinstance(sources, list):
                out_of_range = np.flatnonzero(ok & ((src < 0) | (src >= max(len(sources), 1))))
                if len(sources) and len(out_of_range):
                    problem(f"{len(out_of_range)} tuple(s) have a source_index outside the {len(sources)} sources (first: {int(out_of_range[0])})")
            dss = {name: f[name] for name in stored}
            rule = parse_uncompressed(attrs.get("uncompressed"))
            bad_rule = [r for r in rule if r not in stored] or (rule and attrs.get("compression") not in COMPRESSIONS[1:])
            if bad_rule:
                problem(f"attribute uncompressed={attrs.get('uncompressed')!r} does not fit compression {attrs.get('compression')!r}")
            # filter masks: the checksum filter never skipped; datasets of the rule always unfiltered
            masked = {name: ds for name, ds in dss.items() if not ds.is_virtual}
            for i in range(n):
                arrays = {}
                for name, ds in masked.items():
                    try:
                        info = ds.id.get_chunk_info_by_coord((i,) + (0,) * (ds.ndim - 1))
                    except Exception:  # noqa: BLE001 - the read below reports it
                        continue
                    if info.byte_offset is None:
                        continue
                    if info.filter_mask not in (0, 1):
                        problem(f"tuple {i}: {name} chunk has filter mask {info.filter_mask} (its checksum was skipped)")
                    elif name in rule and info.filter_mask != 1:
                        problem(f"tuple {i}: {name} chunk is compressed, but the file stores {name} unfiltered (attribute uncompressed)")
                for name, ds in dss.items():
                    try:
                        arrays[name] = ds[i]
                    except Exception as e:  # noqa: BLE001 - reported, not raised
                        problem(f"tuple {i}: {name} fails its checksum or cannot be read ({first_line(e)})")
                if len(arrays) == len(dss):
                    for p in tuple_problems(arrays, h, w, derived):
                        problem(f"tuple {i}: {p}")
                checked += 1
                if progress is not None:
                    progress(checked, n)
    finally:
        f.close()
    if extra:
        problems.append(f"... and {extra} more problem(s)")
    return VerifyReport(ok=not problems, count=n, problems=problems, checked=checked)
