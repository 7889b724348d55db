"""The classic pastes, without a network: naive copy, Poisson normal and mixed (Pérez et al. 2003).

The same contract as :func:`pastenet.paste.paste` for images, masks and offsets (``pastenet paste
--method``, the editor's comparison methods)::

    from pastenet.classic import classic_paste

    out = classic_paste(target, source, mask, offset=(40, -12), method="poisson-mixed")

Pixels outside the placed mask are the target's own, bit for bit; the result has the target's
shape and dtype (alpha kept; a grey target gets the luma of a colour source). The Poisson methods
are solved exactly (:func:`pastenet.seam.poisson_blend`) on the placed region's bounding box grown
by one pixel, which holds every in-image neighbour of the region.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from .errors import MaskError, PasteError, PasteWarning
from .paste import _LUMA, _bbox, _checked_inputs, _from_unit, _parse_offset, _place_mask, _to_unit

__all__ = ["CLASSIC_METHODS", "METHODS", "classic_paste"]

#: Methods :func:`classic_paste` implements.
CLASSIC_METHODS = ("naive", "poisson-normal", "poisson-mixed")
#: Every paste method: the network (:func:`pastenet.paste.paste`) and the classic ones.
METHODS = ("network",) + CLASSIC_METHODS


def classic_paste(
    target: np.ndarray,
    source: np.ndarray | None,
    mask: np.ndarray,
    *,
    offset: Sequence[int] = (0, 0),
    method: str = "poisson-normal",
) -> tuple[np.ndarray, np.ndarray]:
    """Paste the masked region of ``source`` into ``target`` with a classic method.

    Parameters
    ----------
    target, source, mask, offset
        As for :func:`pastenet.paste.paste` (``source=None``: the target itself).
    method : {"naive", "poisson-normal", "poisson-mixed"}
        ``naive``: the source's pixels copied; ``poisson-normal``: seamless cloning with the
        source's gradients; ``poisson-mixed``: with the stronger of the source's and the
        target's gradients on each edge.

    Returns
    -------
    (ndarray, ndarray)
        The result (the target's shape and dtype) and the placed mask (bool, the target's height
        and width).

    Raises
    ------
    PasteError
        An unknown method, a bad image or offset.
    MaskError
        A mask whose size differs from the source's, an empty mask, or one placed entirely
        outside the target.

    Warns
    -----
    PasteWarning
        Part of the placed region falls outside the target and is cut.
    """
    if method not in CLASSIC_METHODS:
        raise PasteError(f"method must be one of {', '.join(CLASSIC_METHODS)}, got {method!r}")
    tgt, src, m = _checked_inputs(target, source, mask)
    dy, dx = _parse_offset(offset)
    H, W = tgt.shape
    placed, cut = _place_mask(m, (H, W), (dy, dx))
    if not placed.any():
        raise MaskError(f"the masked region lands entirely outside the {H}x{W} target at offset ({dy}, {dx})")
    if cut:
        lost = int(np.count_nonzero(m)) - int(np.count_nonzero(placed))
        warnings.warn(f"{lost} of {int(np.count_nonzero(m))} masked pixels fall outside the {H}x{W} target at offset ({dy}, {dx}) and were cut",
                      PasteWarning, stacklevel=2)
    y0, y1, x0, x1 = _bbox(placed)
    y0, y1, x0, x1 = max(0, y0 - 1), min(H, y1 + 1), max(0, x0 - 1), min(W, x1 + 1)
    grey = tgt.colour == 1
    sy = np.clip(np.arange(y0, y1) - dy, 0, src.shape[0] - 1)
    sx = np.clip(np.arange(x0, x1) - dx, 0, src.shape[1] - 1)
    s_unit = _to_unit(src.array[np.ix_(sy, sx)][:, :, : src.colour], src, grey=grey)
    t_unit = _to_unit(tgt.array[y0:y1, x0:x1, : tgt.colour], tgt, grey=grey)
    inside = placed[y0:y1, x0:x1]
    if method == "naive":
        y = s_unit
    else:
        from .seam import poisson_blend

        y = np.clip(poisson_blend(s_unit, t_unit, inside, mixed=method == "poisson-mixed"), -1.0, 1.0)
    values = y[inside]
    if grey:
        values = (values @ _LUMA)[:, None]
    out = tgt.array.copy()
    region = out[y0:y1, x0:x1]
    region[inside, : tgt.colour] = _from_unit(values.astype(np.float32), out.dtype, tgt.scale)
    return out.reshape(target.shape), placed
