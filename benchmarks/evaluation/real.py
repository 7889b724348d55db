"""Real pastes at the photos' own size (512x512): the cross-person landmark cases and the mild test.

The definitions live in :mod:`benchmarks.evaluation.landmark_cases` (cross-person cases) and
:mod:`benchmarks.evaluation.mild` (the same-photo mild-change test); this module is their
512-pixel view, as used by ``benchmarks/zoo_figures.py`` and the ablation's evaluation
(:mod:`benchmarks.evaluation.quick`): photos at their own size, the scale at which users paste.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import landmark_cases as _lm
from . import mild as _mild
from .landmark_cases import REGIONS, SEED, SHAPES, region_mask
from .landmark_cases import LandmarkCase as RealCase

__all__ = ["RealCase", "landmark_cases", "mild_samples", "region_mask", "REGIONS", "SHAPES", "SEED"]


def landmark_cases(root: Path, per_pair: int = _lm.PER_PAIR) -> list[RealCase]:
    """The cross-person cases at 512x512 (:func:`benchmarks.evaluation.landmark_cases.landmark_cases`)."""
    return _lm.landmark_cases(root, size=_lm.LANDMARK_SIZE, per_pair=per_pair)


def mild_samples(root: Path, n: int = _mild.N) -> list[tuple[RealCase, np.ndarray]]:
    """``n`` same-photo samples ``(case, original)`` at the photos' own size (:func:`benchmarks.evaluation.mild.mild_samples`)."""
    return [(s.case, s.original) for s in _mild.mild_samples(root, n, size=None)]
