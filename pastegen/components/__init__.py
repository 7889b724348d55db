"""The components of the transformation T, one module each.

Every module holds a frozen ``*Spec`` dataclass (validated sampling ranges), a frozen
``*Params`` dataclass (what was drawn), ``sample(rng, spec, ...)`` that draws the parameters and
a pure ``apply(image, params)``. The pipeline composes them as
``T = T_shading ∘ T_geometric`` with ``T_shading`` mixing two ``T_color``; beyond the paper,
:mod:`.strength` scales the ranges per tuple and :mod:`.tone` replaces ``T_shading`` by a
camera-like tone change for a share of the tuples.
"""

from . import color, crop, geometric, mask, mix, shading, strength, tone

__all__ = ["color", "crop", "geometric", "mask", "mix", "shading", "strength", "tone"]
