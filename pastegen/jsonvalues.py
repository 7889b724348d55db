"""JSON text of metadata values: the store's conversions, the canonical form, short quotes.

Run attributes (spec, seed, sources, ...) are stored in tuple files as JSON and compared in two
places: a resume checks that the ``.partial`` file was made with this run's attributes
(:class:`pastegen.store.TupleWriter`), and :func:`pastegen.shards.combine` checks that shard
files belong to one run. Both compare :func:`canonical_json` texts, so both apply one rule of
equality (below); both quote values in their messages with :func:`short_repr`.

The canonical rule
------------------
Two values are equal when their canonical texts are: ``json.dumps`` with sorted keys, after
these conversions (those of :func:`json_default`, which the store also uses to encode
attributes, except that a set is sorted):

- NumPy scalars become Python numbers, arrays nested lists, paths strings;
- tuples (and lists) become JSON arrays, so a tuple equals the list of the same items;
- sets and frozensets become arrays sorted by their items' canonical texts (a set's text does
  not depend on hash order);
- ``NaN`` is written as ``NaN`` (so NaN equals NaN), infinities as ``Infinity``;
- dict keys are sorted; keys that are not strings are converted as ``json.dumps`` does.

Values of any other type raise :class:`TypeError`: the store cannot hold them either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["canonical_json", "json_default", "short_repr"]


def json_default(value: Any) -> Any:
    """The ``default=`` of ``json.dumps`` for metadata: NumPy values, paths, tuples and sets.

    Raises
    ------
    TypeError
        A value of another type (not JSON-serialisable).
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _canonical_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=canonical_json)
    return json_default(value)


def canonical_json(value: Any) -> str:
    """The canonical text of a metadata value (the rule in the module docstring).

    Parameters
    ----------
    value : any
        A JSON-able value, possibly holding NumPy values, paths, tuples or sets.

    Returns
    -------
    str
        Equal for values that the store and the shard check treat as equal.

    Raises
    ------
    TypeError
        ``value`` holds something that is not JSON-able.

    Examples
    --------
    >>> canonical_json((1, 2)) == canonical_json([1, 2]) == canonical_json(np.array([1, 2]))
    True
    >>> canonical_json({"b": float("nan"), "a": np.float32(0.5)})
    '{"a": 0.5, "b": NaN}'
    >>> canonical_json({"y", "x"})
    '["x", "y"]'
    """
    if isinstance(value, np.generic):
        value = value.item()
    return json.dumps(value, sort_keys=True, default=_canonical_default)


def short_repr(value: Any, limit: int = 60) -> str:
    """A value quoted for a one-line message: ``repr`` of a string, else its canonical text,
    cut to ``limit`` characters (ending in ``...`` when cut)."""
    text = repr(value) if isinstance(value, str) else canonical_json(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
