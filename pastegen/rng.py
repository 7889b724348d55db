"""The seeding contract.

Tuple ``i`` of a run with root seed ``s`` depends only on ``(s, i)`` and the spec, never on the
number of workers, the chunk size or the order of generation. Each component of the
transformation draws from its own stream::

    np.random.Generator(np.random.PCG64(np.random.SeedSequence(s, spawn_key=(i, COMPONENT_ID))))

so changing or disabling one component never changes the draws of another. The component ids
below are part of the file format: never renumber them, only append.

The order in which source images are visited is drawn per *epoch* (one pass over the sources)
from the stream ``spawn_key=(epoch, COMPONENT_IDS["order"])``; no per-tuple component uses that
id, so the two key spaces never collide.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType

import numpy as np

from .errors import SpecError

__all__ = ["COMPONENT_IDS", "component_rng", "check_seed", "epoch_order", "source_for_index"]

#: Stable stream id of each component (part of the file format; append only).
COMPONENT_IDS = MappingProxyType(
    {
        "order": 0,  # which source image feeds tuple i (one permutation per epoch)
        "crop": 1,  # crop position
        "geometric": 2,  # homography corner offsets
        "color_a": 3,  # first colour transform (I1 of eq. 3)
        "color_b": 4,  # second colour transform (I2 of eq. 3)
        "mix": 5,  # 10x10 salt-and-pepper mixing grid
        "mask": 6,  # rotated-rectangle mask
        "strength": 7,  # per-tuple colour / geometric strength (only with a non-default StrengthSpec)
        "tone": 8,  # camera-like tone change instead of T_shading (only with a non-default ToneSpec)
    }
)


def check_seed(seed: int) -> int:
    """Return ``seed`` as an int after checking it is a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise SpecError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def component_rng(seed: int, index: int, component: str) -> np.random.Generator:
    """The random stream of one component for one tuple.

    Parameters
    ----------
    seed : int
        Root seed of the run (non-negative).
    index : int
        Tuple index (non-negative).
    component : str
        A key of :data:`COMPONENT_IDS`.

    Returns
    -------
    numpy.random.Generator
        A fresh generator; the same arguments always give the same stream.
    """
    if component not in COMPONENT_IDS:
        raise SpecError(f"unknown component {component!r}; expected one of {sorted(COMPONENT_IDS)}")
    if index < 0:
        raise SpecError(f"tuple index must be non-negative, got {index}")
    ss = np.random.SeedSequence(check_seed(seed), spawn_key=(int(index), COMPONENT_IDS[component]))
    return np.random.Generator(np.random.PCG64(ss))


@lru_cache(maxsize=16)
def _epoch_order_cached(seed: int, epoch: int, n: int) -> np.ndarray:
    ss = np.random.SeedSequence(seed, spawn_key=(epoch, COMPONENT_IDS["order"]))
    order = np.random.Generator(np.random.PCG64(ss)).permutation(n)
    order.setflags(write=False)
    return order


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The (read-only) permutation of ``n`` source images visited in ``epoch``."""
    if n <= 0:
        raise SpecError("there are no source images to draw from")
    return _epoch_order_cached(check_seed(seed), int(epoch), int(n))


def source_for_index(seed: int, index: int, n: int) -> int:
    """Index of the source image that feeds tuple ``index``: every image once per epoch."""
    epoch, position = divmod(int(index), int(n))
    return int(epoch_order(seed, epoch, n)[position])
