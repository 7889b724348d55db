"""The consistency rules of one stored tuple (shared by resume's salvage and :func:`~pastegen.store.verify`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .schema import ARRAY_NAMES

__all__ = ["tuple_problems"]


def tuple_problems(arrays: Mapping[str, np.ndarray], height: int, width: int) -> list[str]:
    """Problems of one tuple's arrays (empty when consistent).

    Parameters
    ----------
    arrays : mapping
        ``I``, ``I_T``, ``I_S`` and ``M`` of one tuple, as read from the file.
    height, width : int
        The file's image size.

    Returns
    -------
    list of str
        One line per problem: wrong shape or dtype, ``M`` not binary or empty,
        ``I_T != I·(1−M)``, ``I_S`` not zero outside ``M``.
    """
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
