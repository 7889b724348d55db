"""Sharded generation past one machine: the split rule, shard files, and :func:`combine`.

A run of ``count`` tuples can be made as ``n`` shards, on ``n`` machines or at ``n`` times:
``make(..., count=count, shard=(k, n))`` (``pastegen make --count COUNT --shard k/n``) renders
shard ``k`` only and writes it as its own complete pastegen file (``.partial`` while it is being
written, ``resume=True`` after an interruption, ``verify`` like any file).

The split rule
--------------
Shard ``k`` of ``n`` holds the contiguous block of global indices
``[floor(k·count/n), floor((k+1)·count/n))`` (:func:`shard_range`): blocks differ in length by at
most one, and shard ``k`` is the same block whatever machine makes it. ``n`` may not exceed
``count`` (no shard is empty). Tuple ``j`` of a shard file is the global tuple
``index_offset + j``, identical to tuple ``index_offset + j`` of a single-machine run with the same
seed, spec and sources (the seeding contract); :func:`pastegen.precompute.replay_check` replays it
under its global index.

Attributes of a shard file, besides those of any tuple file: ``shard`` (``[k, n]``),
``index_offset`` (its first global index) and ``total_count`` (``count`` of the whole run); the
store's own ``count`` is the number of tuples in the shard.

Combining
---------
:func:`combine` (``pastegen combine OUT SHARD...``) writes one file whose stored image datasets
(``I``, ``I_S``, ``M``; and ``I_T`` for shards of format 1), ``source_index``, ``written`` and
``params/...`` are HDF5 *virtual datasets* mapping the shard files: no pixel is copied, and the
combined file is a few kilobytes. The shards must share every run attribute (spec, seed, sources
compared by content rather than path, ...) and the tuple format (a format-1 shard, which stores
``I_T``, does not combine with format-2 ones); the combined file takes the first shard's
attributes (so its ``sources`` paths, its ``format_version`` and ``derived``). Shards in the
output's folder (or below it) are mapped by relative path, so the folder can be moved as a whole.
The combined file is an ordinary pastegen file to :func:`pastegen.store.open_tuples`,
:func:`pastegen.store.verify`, ``pastegen info`` and ``pastegen preview --from``; opening it
fails with :class:`~pastegen.errors.MissingShardError` when a shard file is missing (HDF5 itself
would read zeros). Its ``combined_from`` attribute lists the shards (path as mapped, ``[k, n]``,
offset, count and creation time); :func:`check_combined` re-checks that the files found are still
those shards.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import atomic_path
from .errors import OutputExistsError, PastegenError, ShardError
from .jsonvalues import canonical_json, short_repr

__all__ = [
    "SHARD_ATTRS",
    "shard_range",
    "parse_shard",
    "check_shard",
    "ShardInfo",
    "CombineResult",
    "combine",
    "is_combined",
    "check_combined",
]

#: Attributes that differ from shard to shard (everything else must be identical to combine).
SHARD_ATTRS = ("shard", "index_offset", "total_count")
#: Attributes never compared between shards: per-file bookkeeping of the store and of make.
_PER_FILE = frozenset({"count", "created", "complete", "json_attrs", "run_attrs", *SHARD_ATTRS})
_COMBINED_ATTR = "combined_from"


def check_shard(shard: Any, count: int) -> tuple[int, int]:
    """Validate ``shard = (k, n)`` for a run of ``count`` tuples; returns ``(k, n)`` as ints.

    Raises
    ------
    ShardError
        ``shard`` is not a pair of integers with ``0 <= k < n <= count``.
    """
    try:
        k, n = shard
        k, n = int(k), int(n)
        if (k, n) != tuple(shard) or isinstance(shard[0], bool) or isinstance(shard[1], bool):
            raise TypeError
    except (TypeError, ValueError):
        raise ShardError(f"shard must be a pair (k, n) of integers, got {shard!r}") from None
    if n < 1 or not 0 <= k < n:
        raise ShardError(f"shard {k}/{n}: need 0 <= k < n (shards are numbered 0 to n-1)")
    if n > count:
        raise ShardError(f"shard {k}/{n}: {n} shards of {count} tuples would leave some empty; use at most {count} shards")
    return k, n


def shard_range(count: int, k: int, n: int) -> tuple[int, int]:
    """Global indices ``[lo, hi)`` of shard ``k`` of ``n`` of a run of ``count`` tuples.

    ``lo = floor(k·count/n)``, ``hi = floor((k+1)·count/n)``.

    Examples
    --------
    >>> [shard_range(10, k, 3) for k in range(3)]
    [(0, 3), (3, 6), (6, 10)]
    """
    k, n = check_shard((k, n), count)
    return (k * count) // n, ((k + 1) * count) // n


def parse_shard(text: str) -> tuple[int, int]:
    """``"k/n"`` to ``(k, n)`` (the CLI's ``--shard``); bounds are checked by :func:`check_shard`.

    Examples
    --------
    >>> parse_shard("1/4")
    (1, 4)
    """
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m:
        raise ShardError(f"expected a shard as K/N (e.g. 0/4), got {text!r}")
    return int(m.group(1)), int(m.group(2))


# --- combining ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardInfo:
    """One shard file as :func:`combine` saw it."""

    path: Path
    shard: tuple[int, int] | None  # (k, n); None for a file made without shard=
    offset: int  # first global index
    count: int  # tuples in the file
    total: int  # tuples of the whole run
    created: str

    @property
    def stop(self) -> int:
        return self.offset + self.count

    def describe(self) -> str:
        where = f"shard {self.shard[0]}/{self.shard[1]}, " if self.shard else ""
        return f"{self.path} ({where}global indices {self.offset}..{self.stop - 1})"


@dataclass(frozen=True)
class CombineResult:
    """Summary of :func:`combine`."""

    path: Path
    count: int
    shards: tuple[ShardInfo, ...]
    relative: bool  # every shard is mapped by a path relative to the output's folder
    shard_bytes: int  # bytes of the shard files (the combined file itself holds no pixels)


def _read_shard(path: Path) -> tuple[ShardInfo, dict[str, Any], Any]:
    """``(info, attributes, layout)`` of a complete tuple file, refusing combined files."""
    from .store import open_tuples

    with open_tuples(path) as tf:  # refuses missing, foreign, incomplete and damaged files
        attrs = dict(tf.attrs)
        layout = tf.layout
    if _COMBINED_ATTR in attrs:
        raise ShardError(f"{path} is itself a combined file; combine its shard files instead")
    count = layout.count
    shard = attrs.get("shard")
    if shard is not None:
        try:
            shard = (int(shard[0]), int(shard[1]))
        except (TypeError, ValueError, IndexError):
            raise ShardError(f"{path} has a malformed shard attribute {shard!r}") from None
    offset = attrs.get("index_offset", 0)
    total = attrs.get("total_count", count)
    if not isinstance(offset, int) or not isinstance(total, int) or offset < 0 or offset + count > total:
        raise ShardError(f"{path}: index_offset {offset!r} and total_count {total!r} do not fit its {count} tuples")
    info = ShardInfo(path=path, shard=shard, offset=offset, count=count, total=total, created=str(attrs.get("created", "")))
    return info, attrs, layout


def _parsed(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _value_difference(a: Any, b: Any, where: str) -> tuple[str, Any, Any] | None:
    """``(path, a's value, b's value)`` of the first difference, descending into dicts and lists."""
    a, b = _parsed(a), _parsed(b)
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return f"{where}.{key}", a.get(key, "(none)"), b.get(key, "(none)")
            d = _value_difference(a[key], b[key], f"{where}.{key}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            d = _value_difference(x, y, f"{where}[{k}]")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        return f"{where} (length)", len(a), len(b)
    return None if canonical_json(a) == canonical_json(b) else (where, a, b)


def _content(sources: Any) -> Any:
    """A ``sources`` attribute without the paths: photos are the same by content and size."""
    if isinstance(sources, list):
        return [{k: v for k, v in s.items() if k != "path"} if isinstance(s, dict) else s for s in sources]
    return sources


def _first_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """The first run attribute that differs between two files' attributes, named precisely.

    Source photos are compared by content (SHA-256, size, order), not by path, so shards made on
    machines that mount the photos in different places combine; ``skipped`` (paths of files the
    scan refused) is informational and not compared.
    """
    from .store import VOLATILE_ATTRS

    skip = _PER_FILE | VOLATILE_ATTRS | {"skipped"}
    for name in sorted((set(a) | set(b)) - skip):
        if name not in a:
            return f"attribute {name!r} is missing there"
        if name not in b:
            return f"attribute {name!r} is {short_repr(a[name])} there but missing in the first shard"
        if name == "sources":
            d = _value_difference(_content(a[name]), _content(b[name]), name)
        else:
            d = _value_difference(a[name], b[name], name)
        if d:
            what, x, y = d
            return f"{what} is {short_repr(x)} there, {short_repr(y)} in the first shard"
    return None


def _map_name(shard: Path, out_dir: Path) -> tuple[str, bool]:
    """The file name stored in the mapping: relative when the shard is in (or below) ``out_dir``."""
    target = shard.resolve()
    try:
        return target.relative_to(out_dir).as_posix(), True
    except ValueError:
        return str(target), False


def _missing_shards(infos: Sequence[ShardInfo], lo: int, hi: int) -> str:
    """Which shards k/n would cover ``[lo, hi)`` when every given shard has the same n."""
    ns = {i.shard[1] for i in infos if i.shard}
    if len(ns) != 1 or any(i.shard is None for i in infos):
        return ""
    n = ns.pop()
    total = infos[0].total
    ks = [k for k in range(n) if (k * total) // n < hi and ((k + 1) * total) // n > lo]
    return f" (shard {', '.join(f'{k}/{n}' for k in ks)} missing?)" if ks else ""


def combine(output: str | os.PathLike, shard_paths: Sequence[str | os.PathLike], *, overwrite: bool = False) -> CombineResult:
    """Combine shard files into one tuple file of virtual datasets, copying no pixel data.

    Parameters
    ----------
    output : path
        The combined file (written under a temporary name and renamed into place).
    shard_paths : sequence of paths
        Complete shard files (any order) of one run: made with the same spec, seed, sources and
        ``count`` by ``make(..., shard=(k, n))``; together they must cover the global indices
        ``[0, count)`` exactly once. Shards of different ``n`` may be mixed as long as their
        index ranges tile ``[0, count)``; a file made without ``shard`` counts as one shard of
        its whole range.
    overwrite : bool
        Replace an existing ``output``.

    Returns
    -------
    CombineResult

    Raises
    ------
    ShardError
        No shards; a shard given twice; attributes that differ between shards (the first
        difference is named); shards that overlap or leave global indices uncovered; a combined
        file given as a shard; the output is one of the shards.
    OutputExistsError
        ``output`` exists and ``overwrite`` is false.
    The errors of :func:`pastegen.store.open_tuples` for a shard that is missing, incomplete
    (an unfinished ``.partial``), damaged or not a tuple file.
    """
    import h5py

    from .store import stored_arrays
    from .store.schema import parse_derived

    output = Path(output)
    paths = [Path(p) for p in shard_paths]
    if not paths:
        raise ShardError("no shard files were given")
    if output.is_dir():
        raise OutputExistsError(f"{output} is a directory; give a file name for the combined output")
    seen: dict[Path, Path] = {}
    for p in paths:
        key = p.resolve()
        if key == output.resolve():
            raise ShardError(f"the output {output} is also given as a shard")
        if key in seen:
            raise ShardError(f"{p} is given twice")
        seen[key] = p
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} exists; pass --overwrite to replace it")

    infos: list[ShardInfo] = []
    first_attrs: dict[str, Any] = {}
    first_layout: Any = None  # the first shard's StoreLayout
    for p in paths:
        info, attrs, layout = _read_shard(p)
        if not infos:
            first_attrs, first_layout = attrs, layout
        else:
            first = infos[0].path
            if (layout.height, layout.width) != (first_layout.height, first_layout.width):
                raise ShardError(
                    f"{p} does not match {first}: tuples of {layout.height}x{layout.width} there, {first_layout.height}x{first_layout.width} in the first shard"
                )
            if layout.param_fields != first_layout.param_fields:
                raise ShardError(f"{p} does not match {first}: its parameter datasets differ")
            theirs, mine = _format_of(attrs), _format_of(first_attrs)
            if theirs != mine:
                raise ShardError(
                    f"{p} does not match {first}: it is a tuple file of {theirs}, the first shard of {mine}; "
                    "shards of one run must have one format (make them again with one pastegen version)"
                )
            if info.total != infos[0].total:
                raise ShardError(f"{p} does not match {first}: it is part of a run of {info.total} tuples, the first shard of {infos[0].total}")
            diff = _first_difference(attrs, first_attrs)
            if diff:
                raise ShardError(f"{p} does not match {first}: {diff}")
        infos.append(info)

    total = infos[0].total
    ordered = sorted(infos, key=lambda i: (i.offset, i.stop))
    pos, prev = 0, None
    for info in ordered:
        if info.offset < pos:
            assert prev is not None  # pos > 0: a shard came before
            raise ShardError(f"shards overlap: {prev.describe()} and {info.describe()}")
        if info.offset > pos:
            raise ShardError(f"no shard covers global indices {pos}..{info.offset - 1} of {total}{_missing_shards(ordered, pos, info.offset)}")
        pos, prev = info.stop, info
    if pos < total:
        raise ShardError(f"no shard covers global indices {pos}..{total - 1} of {total}{_missing_shards(ordered, pos, total)}")

    out_dir = output.parent.resolve()
    mapped = [_map_name(info.path, out_dir) for info in ordered]
    relative = all(rel for _, rel in mapped)
    record = [
        {"path": name, "shard": list(info.shard) if info.shard else None, "index_offset": info.offset, "count": info.count, "created": info.created}
        for info, (name, _) in zip(ordered, mapped, strict=True)
    ]

    # (a small HDF5 file without pixels: written whole under a temporary name, no .partial protocol)
    with atomic_path(out_dir / output.name) as tmp, h5py.File(ordered[0].path, "r") as src, h5py.File(tmp, "w") as dst:
        stored = stored_arrays(parse_derived(first_attrs.get("derived")))
        names = [*stored, "source_index", "written", *(f"params/{k}" for k in first_layout.param_fields)]
        dst.create_group("params")
        for name in names:
            ds = src[name]
            row = ds.shape[1:]
            layout = h5py.VirtualLayout(shape=(total, *row), dtype=ds.dtype)
            for info, (mapped_name, _) in zip(ordered, mapped, strict=True):
                layout[info.offset : info.stop] = h5py.VirtualSource(mapped_name, name, shape=(info.count, *row), dtype=ds.dtype)
            # fill value 0: read without its shard (plain h5py), M is empty and written is 0,
            # which verify reports, instead of plausible pixels
            dst.create_virtual_dataset(name, layout, fillvalue=0)
        _copy_attrs(src, dst, total, record)
    return CombineResult(
        path=output,
        count=total,
        shards=tuple(ordered),
        relative=relative,
        shard_bytes=sum(os.path.getsize(i.path) for i in ordered),
    )


def _format_of(attrs: dict[str, Any]) -> str:
    """A shard's tuple format in words, e.g. ``format 2 (I_T derived, not stored)``."""
    from .store.schema import parse_derived

    derived = parse_derived(attrs.get("derived"))  # (absent in format 1)
    what = f"{', '.join(derived)} derived, not stored" if derived else "every array stored"
    return f"format {attrs.get('format_version')} ({what})"


def _copy_attrs(src: Any, dst: Any, total: int, record: list[dict[str, Any]]) -> None:
    """The first shard's attributes, minus the per-shard ones, plus ``combined_from``."""
    for name, value in src.attrs.items():
        if name not in SHARD_ATTRS:
            dst.attrs[name] = value
    a = dst.attrs
    a["count"] = total
    a["complete"] = 1
    a["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    a[_COMBINED_ATTR] = json.dumps(record)
    for key, add in (("json_attrs", True), ("run_attrs", True)):
        try:
            listed = json.loads(a[key]) if key in a else []
        except (TypeError, ValueError):
            listed = []
        listed = sorted((set(listed) - set(SHARD_ATTRS)) | ({_COMBINED_ATTR} if add else set()))
        a[key] = json.dumps(listed)


def is_combined(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file written by :func:`combine` (its datasets map shard files)."""
    import h5py

    try:
        with h5py.File(path, "r", locking=False) as f:
            return _COMBINED_ATTR in f.attrs
    except (OSError, ValueError):
        return False


def check_combined(path: str | os.PathLike) -> list[str]:
    """Problems of a combined file's shards (empty when they are the shards it was made from).

    Each shard listed in ``combined_from`` must exist where the mapping points, open as a
    complete tuple file, have the recorded offset and count, and share the combined file's spec,
    seed, sources and other run attributes (a shard made again with the same settings holds the
    same tuples, so it passes). Reading the pixels (checksums,
    consistency) is :func:`pastegen.store.verify`'s job.
    """
    import h5py

    from .store import open_tuples
    from .store.reader import virtual_source_files

    path = Path(path)
    with open_tuples(path) as tf:
        attrs = dict(tf.attrs)
    record = attrs.get(_COMBINED_ATTR)
    if record is None:
        return []
    if not isinstance(record, list):
        return [f"{path}: attribute {_COMBINED_ATTR!r} is not a list of shards"]
    with h5py.File(path, "r", locking=False) as f:
        found = virtual_source_files(f, path)
    problems = []
    for entry in record:
        name = entry.get("path")
        where = found.get(name)
        if where is None:
            problems.append(f"shard {name}: not found (the mapping of {path} does not point to it, or the file is missing)")
            continue
        try:
            info, shard_attrs, _ = _read_shard(where)
        except PastegenError as e:
            problems.append(f"shard {name}: {e}")
            continue
        for key, have in (("index_offset", info.offset), ("count", info.count)):
            if entry.get(key) != have:
                problems.append(f"shard {name}: {key} is {have!r}, the combined file recorded {entry.get(key)!r} (the shard was replaced; combine again)")
                break
        else:
            diff = _first_difference(shard_attrs, {k: v for k, v in attrs.items() if k != _COMBINED_ATTR})
            if diff:
                problems.append(f"shard {name} does not match {path}: {diff.replace('the first shard', 'the combined file')}")
    return problems
