"""PNG preview grids like the paper's Figures 2 and 3.

For every sample two rows are drawn:

* Figure 2 (the transformation): ``I``, ``T_color(I)``, ``T_shading(I)``, ``T_geometric(I)``, ``T(I)``;
* Figure 3 (the training input): ``I``, ``T(I)·M``, ``I·(1−M)``, ``X = I·(1−M) + T(I)·M``, ``M``.

Grids come from a generator (a dataset or folder) or from an HDF5 file, where the Figure 2 row is
recomputed from the stored ``I`` and parameters (no source photo needed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .atomic import atomic_path
from .pipeline import Stages, TupleGenerator, TupleParams, TupleSpec, quantize, render, render_stages

if TYPE_CHECKING:  # pragma: no cover
    from .store import TupleFile

__all__ = ["FIGURE2", "FIGURE3", "rows_for", "grid_from_generator", "grid_from_file", "compose_grid", "write_png"]

FIGURE2 = ("I", "T_color(I)", "T_shading(I)", "T_geometric(I)", "T(I)")
FIGURE3 = ("I", "T(I)*M", "I*(1-M)", "X", "M")

_CAPTION = 18  # pixels of caption band above each row
_GAP = 4


def rows_for(stages: Stages, arrays: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The Figure 2 and Figure 3 tiles (uint8 RGB) of one tuple."""
    fig2 = [quantize(stages.I), quantize(stages.color), quantize(stages.shading), quantize(stages.geometric), quantize(stages.T)]
    m = arrays["M"]
    mask_rgb = np.repeat((m * 255)[..., None], 3, axis=2).astype(np.uint8)
    fig3 = [arrays["I"], arrays["I_S"], arrays["I_T"], arrays["I_T"] + arrays["I_S"], mask_rgb]
    return fig2, fig3


def _fit(tile: np.ndarray, size: int) -> np.ndarray:
    h, w = tile.shape[:2]
    scale = size / max(h, w)
    if scale >= 1:
        return tile
    return cv2.resize(tile, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _caption_band(width: int, labels: Sequence[str], tile_w: int) -> np.ndarray:
    band = np.full((_CAPTION, width, 3), 255, np.uint8)
    for k, label in enumerate(labels):
        x = k * (tile_w + _GAP) + 3
        cv2.putText(band, label, (x, _CAPTION - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return band


def compose_grid(rows: Sequence[tuple[Sequence[str], Sequence[np.ndarray]]], tile: int = 256) -> np.ndarray:
    """Stack labelled rows of equally sized tiles into one white-background RGB image."""
    fitted = [(labels, [_fit(np.asarray(t), tile) for t in tiles]) for labels, tiles in rows]
    th, tw = fitted[0][1][0].shape[:2]
    ncols = max(len(tiles) for _, tiles in fitted)
    width = ncols * tw + (ncols - 1) * _GAP
    parts = []
    for labels, tiles in fitted:
        parts.append(_caption_band(width, labels, tw))
        row = np.full((th, width, 3), 255, np.uint8)
        for k, t in enumerate(tiles):
            row[:, k * (tw + _GAP) : k * (tw + _GAP) + tw] = t
        parts.append(row)
        parts.append(np.full((_GAP, width, 3), 255, np.uint8))
    return np.concatenate(parts[:-1], axis=0)


def _rows(fig2: list[np.ndarray], fig3: list[np.ndarray], index: int) -> list[tuple[list[str], list[np.ndarray]]]:
    return [([f"#{index} {FIGURE2[0]}", *FIGURE2[1:]], fig2), ([f"#{index} {FIGURE3[0]}", *FIGURE3[1:]], fig3)]


def grid_from_generator(gen: TupleGenerator, indices: Sequence[int], tile: int = 256) -> np.ndarray:
    """Preview grid of tuples ``indices`` rendered by ``gen``."""
    rows = []
    for i in indices:
        params = gen.sample_params(i)
        image = gen.crop_image(params)
        stages = render_stages(image, params, gen.spec)
        arrays = render(image, params, gen.spec).arrays()
        rows += _rows(*rows_for(stages, arrays), i)
    return compose_grid(rows, tile)


def grid_from_file(tf: TupleFile, indices: Sequence[int], tile: int = 256) -> np.ndarray:
    """Preview grid of stored tuples ``indices``; Figure 2 is recomputed from I and the parameters."""
    spec = TupleSpec.from_json(tf.attrs["spec"])
    rows = []
    for i in indices:
        item = tf[i]
        params = TupleParams.from_record(i, item["source_index"], item["params"])
        stages = render_stages(item["I"], params, spec)
        rows += _rows(*rows_for(stages, item), i)
    return compose_grid(rows, tile)


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG atomically and durably (:func:`pastegen.atomic.atomic_path`).

    Raises
    ------
    OSError
        OpenCV cannot write the file (nothing is left at ``path`` or beside it).
    """
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:  # OpenCV picks the format from the name
        if not cv2.imwrite(str(tmp), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {path}")
    return path
