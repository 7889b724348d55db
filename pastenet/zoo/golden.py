"""Golden outputs of shipped models: a fixed paste from photos shipped in the wheels.

The input: scikit-image's astronaut (target) and chelsea (source), both 256x256, with an ellipse
over the astronaut's face; pasted with :func:`pastenet.paste.paste`'s defaults. The test suite
recomputes it for every registered model and compares it with ``golden/NAME.png`` (a small
tolerance absorbs float differences between CPUs).
"""

from __future__ import annotations

import numpy as np

__all__ = ["golden_inputs", "golden_paste", "compare", "write_golden", "SIZE"]

SIZE = 256


def golden_inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(target, source, mask)``: uint8 RGB 256x256 twice and a bool mask."""
    from PIL import Image
    from skimage import data

    target = np.asarray(Image.fromarray(data.astronaut()).resize((SIZE, SIZE), Image.Resampling.LANCZOS))
    source = np.asarray(Image.fromarray(data.chelsea()).resize((SIZE, SIZE), Image.Resampling.LANCZOS))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    mask = ((yy - 70) / 38.0) ** 2 + ((xx - 118) / 30.0) ** 2 <= 1.0
    return target, source, mask


def golden_paste(model) -> np.ndarray:
    """The golden output of ``model`` (a :class:`pastenet.loading.PasteModel`): uint8 RGB 256x256."""
    from ..paste import paste

    target, source, mask = golden_inputs()
    return paste(model, target, source, mask)


def compare(output: np.ndarray, expected: np.ndarray) -> tuple[int, float]:
    """``(max, mean)`` absolute difference in levels."""
    d = np.abs(np.asarray(output, dtype=np.int16) - np.asarray(expected, dtype=np.int16))
    return int(d.max()), float(d.mean())


def write_golden(name: str, root=None):
    """Recompute and store ``golden/NAME.png`` of a registered model (after a change of paste's defaults).

    Parameters
    ----------
    name : str
        A registered model name.
    root : path, optional
        The zoo folder; default :func:`pastenet.zoo.registry.zoo_dir`.

    Returns
    -------
    Path
        The golden file.
    """
    from ..imageio import write_image
    from ..loading import load_generator
    from .registry import get_model, model_file

    entry = get_model(name, root)
    path = entry.golden_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_image(path, golden_paste(load_generator(model_file(name, root=root), device="cpu")))
