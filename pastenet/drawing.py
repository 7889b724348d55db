"""Drawing on images for people to look at: the outline of a mask (``pastenet demo``'s sheet).

Nothing here touches the paste itself; these are pictures of inputs and results.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mask_outline"]


def mask_outline(mask: np.ndarray) -> np.ndarray:
    """Boolean image of the mask's boundary pixels (inside pixels with an outside 4-neighbour).

    Parameters
    ----------
    mask : ndarray
        ``(H, W)``; any non-zero value is inside.

    Returns
    -------
    ndarray
        bool ``(H, W)``.
    """
    m = mask.astype(bool)
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner
