"""A self-contained example paste on photos shipped inside installed wheels: :func:`demo`.

Grace Hopper's face (matplotlib's ``grace_hopper.jpg``) is pasted onto the astronaut's face
(scikit-image's ``astronaut.png``); without matplotlib, the astronaut's own face, mirrored, is
used as the source. Both photos are scaled so the astronaut's photo is ``size`` pixels wide (by
default the model's training resolution, the scale it knows best). The result is a side-by-side
sheet: target, source with the region outlined, naive paste (the network's input), network output.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import PasteError

__all__ = ["demo", "DemoResult", "demo_inputs"]

# In the 512x512 astronaut photo: the centre of her face. In the 512x600 Grace Hopper photo
# (scaled by 0.75 so the faces are the same size): the centre of hers and the half-axes of an
# ellipse over eyes, nose and mouth.
_ASTRONAUT_FACE = (112, 226)
_HOPPER_SCALE = 0.75
_HOPPER_FACE = (172, 194)
_FACE_AXES = (50, 38)


class DemoResult(NamedTuple):
    sheet: np.ndarray  # the side-by-side PNG content, uint8 RGB
    target: np.ndarray
    source: np.ndarray
    mask: np.ndarray
    offset: tuple[int, int]
    naive: np.ndarray
    result: np.ndarray


def _photo(path: Path, scale: float) -> np.ndarray:
    from PIL import Image

    image = Image.open(path).convert("RGB")
    w, h = image.size
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS))


def _ellipse(shape: tuple[int, int], centre: tuple[float, float], axes: tuple[float, float]) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - centre[0]) / axes[0]) ** 2 + ((xx - centre[1]) / axes[1]) ** 2 <= 1.0


def demo_inputs(size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """``(target, source, mask, offset)`` of the example at a target width of ``size`` pixels."""
    import skimage

    data = Path(skimage.__file__).parent / "data"
    scale = size / 512
    target = _photo(data / "astronaut.png", scale)
    ty, tx = (round(c * scale) for c in _ASTRONAUT_FACE)
    axes = (_FACE_AXES[0] * scale, _FACE_AXES[1] * scale)
    try:
        import matplotlib

        hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    except ImportError:
        hopper = None
    if hopper is not None and hopper.is_file():
        source = _photo(hopper, scale * _HOPPER_SCALE)
        sy, sx = (round(c * scale) for c in _HOPPER_FACE)
    else:  # the astronaut's own face, mirrored
        source = np.ascontiguousarray(target[:, ::-1])
        sy, sx = ty, target.shape[1] - 1 - tx
    mask = _ellipse(source.shape[:2], (sy, sx), axes)
    return target, source, mask, (ty - sy, tx - sx)


def _outline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from .drawing import mask_outline

    out = image.copy()
    out[mask_outline(mask)] = (255, 0, 0)
    return out


def demo(model, *, size: int | None = None, seed: int = 0) -> DemoResult:
    """Run the example paste with ``model`` (a :class:`pastenet.loading.PasteModel`).

    Parameters
    ----------
    model : PasteModel
    size : int, optional
        Width of the target photo in pixels; default the model's training resolution.
    seed : int
        Seed of G's noise.
    """
    from .paste import paste

    size = int(size or model.config.resolution)
    if size < 32:
        raise PasteError(f"size must be at least 32 pixels, got {size}")
    target, source, mask, offset = demo_inputs(size)
    result = paste(model, target, source, mask, offset=offset, seed=seed)
    placed = np.zeros(target.shape[:2], bool)
    ys, xs = np.nonzero(mask)
    placed[ys + offset[0], xs + offset[1]] = True
    naive = target.copy()
    naive[ys + offset[0], xs + offset[1]] = source[ys, xs]
    h = target.shape[0]
    src = _outline(source, mask)
    panel_src = np.zeros((h, source.shape[1], 3), np.uint8)
    panel_src[: min(h, source.shape[0])] = src[:h]
    gap = np.full((h, 4, 3), 255, np.uint8)
    sheet = np.concatenate([target, gap, panel_src, gap, naive, gap, result], axis=1)
    if h < 256:  # enlarge small sheets for viewing, without interpolation
        k = -(-256 // h)
        sheet = sheet.repeat(k, axis=0).repeat(k, axis=1)
    return DemoResult(sheet, target, source, mask, offset, naive, result)
