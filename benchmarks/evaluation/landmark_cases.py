"""Cross-person paste cases from the landmarks of the held-out London faces (no ground truth).

Between *different* held-out people of ``faces/test`` (the London set: aligned 512x512 photos,
one geometry for all, 189-point landmarks in ``faces/landmarks.json``), a region of the source
photo is pasted into the target at the same place (offset 0: the faces are aligned, so source
and target share coordinates). ``faces/train`` is never read.

Regions (landmark indices of the 189-point Face Research Lab template)
    ``mouth`` 87-108, ``eyes`` 2-17 (both eyes), ``nose`` 51-70 and ``inner`` (all three: the
    hull of eyes, nose and mouth).
Mask shapes (:func:`region_mask`)
    ``hull``: the landmarks' convex hull dilated by ``GROW`` (4 %) of the side; ``ellipse``: an
    axis-aligned ellipse centred on the landmarks' box, semi-axes 0.6 of their extent plus 4 %;
    ``rect``: their minimum-area rotated rectangle, grown by 25 % plus 4 %.
Pairs
    Every (region, shape) pair gets ``per_pair`` cases (4 x 3 x 4 = 48 by default). For each, a
    source is drawn among the **neutral** photos (the smiling photos' mouth landmarks are
    approximate: carried over from the neutral one by registration) and a target among all photos
    (neutral and smiling) of the *other* people, with ``numpy.random.default_rng(SEED)``.

Working size
    Photos are resized to ``size`` x ``size`` (Lanczos) and the landmarks scaled by ``size / 512``
    before the mask is drawn, so every method sees the scale the network was trained at;
    ``size=512`` is the photos' own size. The draws do not depend on the size: the same pairs,
    regions and shapes at every size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["REGIONS", "SHAPES", "SEED", "GROW", "LANDMARK_SIZE", "LandmarkCase", "load_landmarks", "region_mask",
           "read_photo", "resize", "landmark_cases"]

#: Landmark indices of each region.
REGIONS = {"mouth": range(87, 109), "eyes": range(2, 18), "nose": range(51, 71),
           "inner": [*range(2, 18), *range(51, 71), *range(87, 109)]}
#: Mask shapes, in the order cases cycle through them.
SHAPES = ("hull", "ellipse", "rect")
#: Seed of the pair draws.
SEED = 2026
#: Growth of every mask shape, a fraction of the image side.
GROW = 0.04
#: The side of the aligned crops the landmarks are given in.
LANDMARK_SIZE = 512
#: Cases per (region, shape) pair.
PER_PAIR = 4


@dataclass
class LandmarkCase:
    """One paste: ``source`` inside ``mask`` into ``target`` (aligned, offset 0).

    Attributes
    ----------
    name : str
        ``<region>-<shape>-<j>-<source stem>-into-<target stem>``.
    region, shape : str
        A key of :data:`REGIONS`; one of :data:`SHAPES` (or another label for other case kinds).
    target, source : ndarray
        uint8 HxWx3 at the working size.
    mask : ndarray
        bool HxW.
    target_path, source_path : str
        Relative to the data root.
    """

    name: str
    region: str
    shape: str
    target: np.ndarray
    source: np.ndarray
    mask: np.ndarray
    target_path: str = ""
    source_path: str = ""


def load_landmarks(root: Path) -> dict[str, np.ndarray]:
    """``{"faces/<split>/<file>": (189, 2) float array of (x, y) in 512 coords}`` of ``faces/landmarks.json``."""
    data = json.loads((Path(root) / "faces" / "landmarks.json").read_text())
    return {k: np.asarray(v, dtype=np.float64) for k, v in data["points"].items()}


def region_mask(points: np.ndarray, shape: str, size: tuple[int, int], grow: float = GROW) -> np.ndarray:
    """A bool mask of ``size`` shaped from landmark ``points``.

    Parameters
    ----------
    points : ndarray
        ``(n, 2)`` landmark coordinates ``(x, y)`` in the mask's pixels.
    shape : str
        ``"hull"``, ``"ellipse"`` or ``"rect"`` (see the module docstring).
    size : (int, int)
        ``(height, width)`` of the mask.
    grow : float
        Growth of the shape, a fraction of the shorter side.

    Returns
    -------
    ndarray
        bool ``(height, width)``.

    Raises
    ------
    ValueError
        An unknown shape.
    """
    h, w = size
    img = np.zeros((h, w), np.uint8)
    pad = grow * min(h, w)
    pts = np.asarray(points, dtype=np.float32)
    if shape == "hull":
        hull = cv2.convexHull(pts)
        cv2.fillConvexPoly(img, np.round(hull).astype(np.int32), 1)
        k = max(1, int(round(pad)))
        img = cv2.dilate(img, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    elif shape == "ellipse":
        c = (pts.max(0) + pts.min(0)) / 2
        ax = 0.6 * (pts.max(0) - pts.min(0)) + pad
        cv2.ellipse(img, (int(round(c[0])), int(round(c[1]))), (int(round(ax[0])), int(round(ax[1]))), 0, 0, 360, 1, -1)
    elif shape == "rect":
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(pts)
        box = cv2.boxPoints(((cx, cy), (rw * 1.25 + pad, rh * 1.25 + pad), angle))
        cv2.fillConvexPoly(img, np.round(box).astype(np.int32), 1)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return img.astype(bool)


def read_photo(root: Path, rel: str, size: int | None = None) -> np.ndarray:
    """The photo ``rel`` (relative to ``root``) as uint8 HxWx3, resized to ``size`` x ``size`` (Lanczos) unless None."""
    from pastegen.sources import decode_image

    return resize(decode_image(str(Path(root) / rel)), size)


def resize(img: np.ndarray, size: int | None) -> np.ndarray:
    """``img`` resized to ``size`` x ``size`` (Lanczos); itself when already that size or ``size`` is None."""
    from PIL import Image

    if size is None or img.shape[:2] == (size, size):
        return img
    return np.asarray(Image.fromarray(img).resize((size, size), Image.LANCZOS))


def _person(rel: str) -> str:
    """``faces/test/london_005_neutral.jpg`` -> ``"london_005"``."""
    return "_".join(Path(rel).stem.split("_")[:2])


def landmark_cases(root: Path, size: int = 256, per_pair: int = PER_PAIR, *, seed: int = SEED,
                   limit: int | None = None) -> list[LandmarkCase]:
    """The cross-person cases (module docstring), decoded at ``size`` x ``size``.

    Parameters
    ----------
    root : Path
        The data root (holds ``faces/test`` and ``faces/landmarks.json``).
    size : int
        Working size; 512 is the photos' own.
    per_pair : int
        Cases per (region, shape): ``len(REGIONS) * len(SHAPES) * per_pair`` cases in all.
    seed : int
        Seed of the pair draws.
    limit : int, optional
        Keep the first ``limit`` cases (smoke runs); the others' photos are not read.

    Returns
    -------
    list of LandmarkCase
        In (region, shape, j) order; names are unique.
    """
    marks = {k: v for k, v in load_landmarks(root).items() if k.startswith("faces/test/london_")}
    neutral = sorted(k for k in marks if k.endswith("_neutral.jpg"))
    rng = np.random.default_rng(seed)
    picks = []
    for region, idx in REGIONS.items():
        for shape in SHAPES:
            for j in range(per_pair):
                src = neutral[int(rng.integers(len(neutral)))]
                others = sorted(k for k in marks if _person(k) != _person(src))
                tgt = others[int(rng.integers(len(others)))]
                picks.append((region, idx, shape, j, src, tgt))
    if limit is not None:
        picks = picks[:limit]
    cache: dict[str, np.ndarray] = {}
    cases = []
    for region, idx, shape, j, src, tgt in picks:
        for rel in (src, tgt):
            if rel not in cache:
                cache[rel] = read_photo(root, rel, size)
        s, t = cache[src], cache[tgt]
        pts = marks[src][list(idx)] * (s.shape[1] / LANDMARK_SIZE)
        m = region_mask(pts, shape, s.shape[:2])
        name = f"{region}-{shape}-{j}-{Path(src).stem}-into-{Path(tgt).stem}"
        cases.append(LandmarkCase(name, region, shape, t, s, m, tgt, src))
    return cases
