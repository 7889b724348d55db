"""Real pastes with no ground truth: cross-person landmark cases and the same-photo mild-change test.

Cross-person cases (:func:`landmark_cases`)
    Between *different* held-out people of ``faces/test`` (the London set, whose aligned photos
    share one geometry and have landmarks in ``faces/landmarks.json``), a region of the source
    photo is pasted into the target at the same place (offset 0). Regions: ``mouth`` (landmarks
    87-108), ``eyes`` (2-17), ``nose`` (51-70) and ``inner`` (all three). Mask shapes: ``hull``
    (the landmarks' convex hull, dilated by 4 % of the side), ``ellipse`` (centred on the
    landmarks, semi-axes 0.6 of their extent plus 4 %) and ``rect`` (their minimum-area rotated
    rectangle grown by 25 %). Every (region, shape) pair gets the same number of cases; pairs of
    people are drawn with a fixed seed. Sources are neutral photos (the smiling photos' mouth
    landmarks are approximate); targets are neutral or smiling.
Mild-change test (:func:`mild_samples`)
    A held-out photo ``I`` (London and Congress faces), a region (a landmark hull for London faces,
    a rotated rectangle for Congress crops), and a source equal to ``I`` with a mild colour and
    gamma change: per channel ``255·(gain_c·(I/255)^γ) + offset``, gain ∈ [0.92, 1.08], γ ∈ [0.85,
    1.15], offset ∈ [−8, 8] levels. Pasted into ``I`` itself: the right answer is ``I``, so the
    mean L1 to ``I`` inside the mask measures how much a method damages a paste that needed almost
    nothing (the naive paste's L1 is the size of the change; returning the target is 0).

All photos are used at their own size (512x512), the scale at which users paste.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["RealCase", "landmark_cases", "mild_samples", "REGIONS", "SHAPES"]

REGIONS = {"mouth": range(87, 109), "eyes": range(2, 18), "nose": range(51, 71), "inner": [*range(2, 18), *range(51, 71), *range(87, 109)]}
SHAPES = ("hull", "ellipse", "rect")
SEED = 2026


@dataclass
class RealCase:
    name: str
    region: str
    shape: str
    target: np.ndarray
    source: np.ndarray
    mask: np.ndarray  # bool
    target_path: str = ""
    source_path: str = ""


def _landmarks(root: Path) -> dict[str, np.ndarray]:
    data = json.loads((Path(root) / "faces" / "landmarks.json").read_text())
    return {k: np.asarray(v, dtype=np.float64) for k, v in data["points"].items()}


def region_mask(points: np.ndarray, shape: str, size: tuple[int, int], grow: float = 0.04) -> np.ndarray:
    """A bool mask of ``size`` shaped from landmark ``points`` (x, y) (see the module docstring)."""
    h, w = size
    img = np.zeros((h, w), np.uint8)
    pad = grow * min(h, w)
    pts = points.astype(np.float32)
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


def _read(root: Path, rel: str) -> np.ndarray:
    from pastegen.sources import decode_image

    return decode_image(str(Path(root) / rel))


def landmark_cases(root: Path, per_pair: int = 4) -> list[RealCase]:
    """``per_pair`` cases for each (region, shape): 4 x 3 x 4 = 48 by default (module docstring)."""
    marks = {k: v for k, v in _landmarks(root).items() if k.startswith("faces/test/london_")}
    neutral = sorted(k for k in marks if k.endswith("_neutral.jpg"))
    person = {k: k.split("/")[-1].split("_")[1] for k in marks}
    rng = np.random.default_rng(SEED)
    cases, cache = [], {}
    for region, idx in REGIONS.items():
        for shape in SHAPES:
            for j in range(per_pair):
                src = neutral[int(rng.integers(len(neutral)))]
                others = sorted(k for k in marks if person[k] != person[src])
                tgt = others[int(rng.integers(len(others)))]
                for rel in (src, tgt):
                    if rel not in cache:
                        cache[rel] = _read(root, rel)
                s, t = cache[src], cache[tgt]
                m = region_mask(marks[src][list(idx)], shape, s.shape[:2])
                name = f"{region}-{shape}-{j}-{Path(src).stem}-into-{Path(tgt).stem}"
                cases.append(RealCase(name, region, shape, t, s, m, tgt, src))
    return cases


def mild_samples(root: Path, n: int = 48) -> list[tuple[RealCase, np.ndarray]]:
    """``n`` same-photo cases ``(case, original)``; the case's target *is* the original."""
    marks = _landmarks(root)
    test = sorted(p.name for p in (Path(root) / "faces" / "test").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    rng = np.random.default_rng(SEED + 1)
    picks = [test[i] for i in rng.permutation(len(test))[:n]]
    out = []
    for k, name in enumerate(picks):
        rel = f"faces/test/{name}"
        img = _read(root, rel)
        h, w = img.shape[:2]
        if rel in marks and h == 512:
            region = list(REGIONS)[k % len(REGIONS)]
            m = region_mask(marks[rel][list(REGIONS[region])], SHAPES[k % len(SHAPES)], (h, w))
        else:  # Congress crops: a rotated rectangle over the lower-middle face
            region = "rect"
            cx, cy = w * rng.uniform(0.4, 0.6), h * rng.uniform(0.45, 0.65)
            box = cv2.boxPoints(((cx, cy), (w * rng.uniform(0.2, 0.4), h * rng.uniform(0.12, 0.25)), rng.uniform(-30, 30)))
            m = np.zeros((h, w), np.uint8)
            cv2.fillConvexPoly(m, np.round(box).astype(np.int32), 1)
            m = m.astype(bool)
        gain = rng.uniform(0.92, 1.08, 3)
        gamma = rng.uniform(0.85, 1.15)
        offset = rng.uniform(-8, 8, 3)
        changed = np.clip(255.0 * gain * (img / 255.0) ** gamma + offset, 0, 255).round().astype(np.uint8)
        out.append((RealCase(f"mild-{Path(name).stem}", region, "mild", img, changed, m, rel, rel), img))
    return out
