"""Comparison sheets: a grid of images with column titles and row labels, written as JPEG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["sheet", "outline", "crop_box"]


def outline(image: np.ndarray, mask: np.ndarray, colour=(255, 255, 0)) -> np.ndarray:
    """A copy of ``image`` with the mask's border pixels painted in ``colour``."""
    from scipy import ndimage

    m = np.asarray(mask) != 0
    edge = m & ~ndimage.binary_erosion(m, border_value=1)
    out = np.array(image, copy=True)
    out[edge] = colour
    return out


def crop_box(mask: np.ndarray, grow: float = 0.5, square: bool = True) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)``: the mask's bounding box grown by ``grow`` of its size, made square."""
    ys, xs = np.nonzero(np.asarray(mask) != 0)
    h, w = mask.shape
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    hh, hw = (y1 - y0) * (1 + grow) / 2, (x1 - x0) * (1 + grow) / 2
    if square:
        hh = hw = max(hh, hw)
    hh, hw = min(hh, h / 2), min(hw, w / 2)
    y0 = int(round(min(max(cy - hh, 0), h - 2 * hh)))
    x0 = int(round(min(max(cx - hw, 0), w - 2 * hw)))
    return y0, y0 + int(round(2 * hh)), x0, x0 + int(round(2 * hw))


def _thumb(img: np.ndarray, cell: int) -> Image.Image:
    im = Image.fromarray(np.asarray(img, dtype=np.uint8))
    scale = cell / max(im.size)
    return im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)


def sheet(
    path: str | Path,
    rows: Sequence[Sequence[np.ndarray]],
    columns: Sequence[str],
    row_labels: Sequence[str] | None = None,
    *,
    cell: int = 160,
    quality: int = 80,
) -> Path:
    """Write a grid: ``rows[i][j]`` under title ``columns[j]``, each scaled to fit ``cell`` px."""
    font = ImageFont.load_default()
    head = 16
    label_h = 12 if row_labels else 0
    ncol = len(columns)
    out = Image.new("RGB", (ncol * cell, head + len(rows) * (cell + label_h)), "white")
    draw = ImageDraw.Draw(out)
    for j, title in enumerate(columns):
        draw.text((j * cell + 3, 2), title, fill="black", font=font)
    for i, row in enumerate(rows):
        y = head + i * (cell + label_h)
        if row_labels:
            draw.text((3, y), row_labels[i], fill="black", font=font)
        for j, img in enumerate(row):
            t = _thumb(img, cell)
            out.paste(t, (j * cell + (cell - t.width) // 2, y + label_h + (cell - t.height) // 2))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.save(path, quality=quality, optimize=True)
    return path
