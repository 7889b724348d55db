"""The same-photo mild-change test: a paste that needs almost nothing must change almost nothing.

A held-out photo ``I`` of ``faces/test`` (London and Congress faces; never ``faces/train``) and a
region: the landmark mask of :func:`benchmarks.evaluation.landmark_cases.region_mask` for photos
with landmarks (regions and shapes cycling through ``REGIONS`` x ``SHAPES``), a random rotated
rectangle over the lower-middle face for the others (the Congress crops). The source is ``I`` with
a mild colour and gamma change (:func:`mild_change`, parameters drawn per photo)::

    source_c = clip(255 · gain_c · (I_c / 255) ** gamma + offset_c)

with ``gain_c`` in :data:`GAIN`, ``gamma`` in :data:`GAMMA` and ``offset_c`` in :data:`OFFSET`
levels (uniform draws). The change is computed over the whole photo but only the mask's part of
the source is ever pasted. The target is ``I`` itself (the real photo, not blanked): every method
gets ``(target=I, source=changed, mask)``, and the right answer is ``I``. The score is the mean L1
(0-255, over the mask's pixels and channels) to ``I``: returning the target (the source left
unpasted) scores 0, the naive paste scores the size of the change.

Photos are picked with ``numpy.random.default_rng(SEED)`` (a permutation of the sorted file
names), and each photo's parameters come from the same stream, so the samples do not depend on the
working size: photos are resized to ``size`` x ``size`` (``None``: their own size) and the
landmarks scaled with them before the mask is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .landmark_cases import LANDMARK_SIZE, REGIONS, SHAPES, LandmarkCase, load_landmarks, read_photo, region_mask, resize

__all__ = ["GAIN", "GAMMA", "OFFSET", "PARTS", "SEED", "N", "MildSample", "mild_change", "mild_samples", "masked_l1"]

#: Per-channel gain range.
GAIN = (0.92, 1.08)
#: Gamma range (one per photo).
GAMMA = (0.85, 1.15)
#: Per-channel offset range, levels of 255.
OFFSET = (-8.0, 8.0)
#: Seed of the photo picks and the changes.
SEED = 2027
#: Photos of the test by default.
N = 48


@dataclass
class MildSample:
    """One same-photo sample.

    Attributes
    ----------
    case : LandmarkCase
        ``target`` is the original photo ``I``, ``source`` the changed one; ``shape`` is
        ``"mild"`` and ``region`` the landmark region (``"rect"`` for a random rectangle).
    original : ndarray
        ``I`` (the same array as ``case.target``): the right answer.
    change_l1 : float
        Mean L1 of the change inside the mask (the naive paste's score).
    """

    case: LandmarkCase
    original: np.ndarray
    change_l1: float


def mild_change(img: np.ndarray, gain: np.ndarray, gamma: float, offset: np.ndarray) -> np.ndarray:
    """``clip(255 · gain · (img / 255) ** gamma + offset)`` rounded to uint8 (per channel).

    Parameters
    ----------
    img : ndarray
        uint8 HxWx3.
    gain, offset : ndarray
        Per channel, shape ``(3,)``; ``offset`` in levels of 255.
    gamma : float
        Applied to every channel.

    Returns
    -------
    ndarray
        uint8 HxWx3.
    """
    x = np.asarray(img, dtype=np.float64) / 255.0
    return np.clip(255.0 * np.asarray(gain) * x**gamma + np.asarray(offset), 0, 255).round().astype(np.uint8)


def masked_l1(y: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float:
    """Mean ``|y − reference|`` (0-255) over the mask's pixels and channels (0 for an empty mask)."""
    m = np.asarray(mask) != 0
    if not m.any():
        return 0.0
    return float(np.abs(np.asarray(y, dtype=np.float64) - np.asarray(reference, dtype=np.float64))[m].mean())


def _random_rect(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    cx, cy = w * rng.uniform(0.4, 0.6), h * rng.uniform(0.45, 0.65)
    box = cv2.boxPoints(((cx, cy), (w * rng.uniform(0.2, 0.4), h * rng.uniform(0.12, 0.25)), rng.uniform(-30, 30)))
    m = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(m, np.round(box).astype(np.int32), 1)
    return m.astype(bool)


#: The three parts of the change, for :func:`mild_samples`'s ``parts``.
PARTS = ("gain", "gamma", "offset")


def mild_samples(root: Path, n: int = N, size: int | None = 256, *, seed: int = SEED, parts: tuple[str, ...] = PARTS) -> list[MildSample]:
    """``n`` same-photo samples of ``faces/test`` (module docstring).

    Parameters
    ----------
    root : Path
        The data root.
    n : int
        Photos (at most the number in ``faces/test``).
    size : int or None
        Working size (square); ``None`` keeps every photo's own size.
    seed : int
        Seed of the picks and the changes.
    parts : tuple of str
        The parts of the change applied (:data:`PARTS`); the others are left at the identity
        (gain 1, gamma 1, offset 0). The draws do not depend on it: the same photos, masks and
        values, so a diagnosis can take the change apart.

    Returns
    -------
    list of MildSample
    """
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    marks = load_landmarks(root)
    test = sorted(p.name for p in (Path(root) / "faces" / "test").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    rng = np.random.default_rng(seed)
    picks = [test[i] for i in rng.permutation(len(test))[:n]]
    out = []
    for k, name in enumerate(picks):
        rel = f"faces/test/{name}"
        img = read_photo(root, rel)
        native = rel in marks and img.shape[:2] == (LANDMARK_SIZE, LANDMARK_SIZE)
        img = resize(img, size)
        h, w = img.shape[:2]
        if native:
            region, shape = list(REGIONS)[k % len(REGIONS)], SHAPES[k % len(SHAPES)]
            m = region_mask(marks[rel][list(REGIONS[region])] * (w / LANDMARK_SIZE), shape, (h, w))
        else:  # no landmarks (Congress crops): a rotated rectangle over the lower-middle face
            region, m = "rect", _random_rect(rng, h, w)
        gain, gamma, offset = rng.uniform(*GAIN, 3), rng.uniform(*GAMMA), rng.uniform(*OFFSET, 3)
        gain = gain if "gain" in parts else np.ones(3)
        gamma = gamma if "gamma" in parts else 1.0
        offset = offset if "offset" in parts else np.zeros(3)
        changed = mild_change(img, gain, gamma, offset)
        case = LandmarkCase(f"mild-{Path(name).stem}", region, "mild", img, changed, m, rel, rel)
        out.append(MildSample(case, img, masked_l1(changed, img, m)))
    return out
