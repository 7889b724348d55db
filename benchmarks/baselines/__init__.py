"""Copy-paste baselines for the quality benchmark.

Every method has the signature ``method(target, source, mask) -> uint8 HxWx3``:

- ``target``: uint8 HxWx3, the image pasted into;
- ``source``: uint8 HxWx3 of the same size, **aligned** with the target (the source pixel at
  ``(y, x)`` goes to ``(y, x)``); pixels around the mask are used by the gradient methods;
- ``mask``: HxW, any non-zero value counts as inside.

The result is a new array, equal to the target exactly outside the mask; the caller's arrays are
never written (tests check both).

=====================  ======================================================================
``naive``              the composite ``X = target·(1−M) + source·M``
``poisson_normal``     Pérez et al. 2003, source gradients, exact sparse solve (:mod:`.poisson`)
``poisson_mixed``      Pérez et al. 2003, mixed gradients, exact sparse solve
``cv2_normal``         ``cv2.seamlessClone`` NORMAL_CLONE, guarded (:mod:`.opencv`)
``cv2_mixed``          ``cv2.seamlessClone`` MIXED_CLONE, guarded
``reinhard``           Reinhard et al. 2001 colour transfer in Lab inside the mask (:mod:`.reinhard`)
=====================  ======================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._checks import check_inputs, composite
from .opencv import cv2_mixed, cv2_normal, seamless_clone
from .poisson import membrane_fill, poisson_mixed, poisson_normal, poisson_solve
from .reinhard import reinhard

Method = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def naive(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The naive paste: the source inside the mask, the target outside (the network's input X)."""
    target, source, mask = check_inputs(target, source, mask)
    return composite(target, source, mask)


#: The baselines by name, in the order of the benchmark's tables and sheets.
BASELINES: dict[str, Method] = {
    "naive": naive,
    "poisson_normal": poisson_normal,
    "poisson_mixed": poisson_mixed,
    "cv2_normal": cv2_normal,
    "cv2_mixed": cv2_mixed,
    "reinhard": reinhard,
}

#: Methods whose guidance reads the target's content under the mask (mixed gradients).
READS_TARGET_INSIDE = frozenset({"poisson_mixed", "cv2_mixed"})

__all__ = [
    "BASELINES",
    "READS_TARGET_INSIDE",
    "Method",
    "naive",
    "poisson_normal",
    "poisson_mixed",
    "poisson_solve",
    "membrane_fill",
    "cv2_normal",
    "cv2_mixed",
    "seamless_clone",
    "reinhard",
]
