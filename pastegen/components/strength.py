"""Per-tuple strength of T (beyond the paper): how far the colour and geometric ranges reach.

The paper draws every tuple's colour transforms from the full ranges (hue ±0.5 turns, brightness
±0.5, ...) and its homography from U(−σ, σ). Section 4.1 warns that ranges that are too strong make
the network "totally invariant to colors"; a mixture of strengths that includes mild and identity
transforms keeps the source's colour informative. A :class:`StrengthSpec` holds two discrete
mixtures, each a tuple of ``(strength, weight)`` pairs; for every tuple one strength is drawn from
each (from its own random stream, ``"strength"``) and

- the colour ranges of *both* colour transforms are shrunk towards the identity by the colour
  strength (:meth:`pastegen.components.color.ColorSpec.scaled`: 0 is the identity, 1 the spec's
  ranges);
- the homography's σ is multiplied by the geometric strength.

The drawn colour and geometric parameters are stored as always, so a tuple replays from its
parameters without knowing its strengths. An empty mixture (the default) means strength 1 and
draws nothing: the paper's tuples, bit for bit.

Text form (``pastegen make --color-mix``): ``"0:1,0.25:1,1:2"`` is strengths 0, 0.25 and 1 with
weights 1, 1 and 2 (normalised); a bare ``"0.5"`` is strength 0.5 always.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SpecError

__all__ = ["StrengthSpec", "StrengthParams", "sample", "identity", "parse_mixture", "format_mixture", "strength_spec"]

Mixture = tuple[tuple[float, float], ...]


def _check_mixture(name: str, value: Any) -> Mixture:
    try:
        pairs = tuple((float(s), float(w)) for s, w in value)
    except (TypeError, ValueError):
        raise SpecError(f"strength.{name} must be a sequence of (strength, weight) pairs, got {value!r}") from None
    for s, w in pairs:
        if not (0.0 <= s <= 1.0):
            raise SpecError(f"strength.{name}: strengths must lie in [0, 1], got {s}")
        if not (w > 0.0 and np.isfinite(w)):
            raise SpecError(f"strength.{name}: weights must be positive, got {w}")
    if len({s for s, _ in pairs}) != len(pairs):
        raise SpecError(f"strength.{name}: a strength is listed twice in {value!r}")
    return pairs


@dataclass(frozen=True)
class StrengthSpec:
    """Mixtures of the per-tuple colour and geometric strengths.

    Parameters
    ----------
    color : tuple of (float, float)
        ``(strength, weight)`` pairs, strengths in [0, 1]; empty: always 1 (the paper).
    geometric : tuple of (float, float)
        The same for the factor on σ.
    """

    color: Mixture = ()
    geometric: Mixture = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "color", _check_mixture("color", self.color))
        object.__setattr__(self, "geometric", _check_mixture("geometric", self.geometric))

    @property
    def is_default(self) -> bool:
        """Whether both mixtures are empty (every tuple at strength 1, nothing drawn)."""
        return not self.color and not self.geometric


@dataclass(frozen=True)
class StrengthParams:
    """The strengths drawn for one tuple."""

    color: float = 1.0
    geometric: float = 1.0


def identity() -> StrengthParams:
    """Strength 1 for both: the spec's full ranges."""
    return StrengthParams()


def _draw(rng: np.random.Generator, mixture: Mixture) -> float:
    if not mixture:
        return 1.0
    weights = np.array([w for _, w in mixture], dtype=np.float64)
    u = rng.random()
    k = int(np.searchsorted(np.cumsum(weights) / weights.sum(), u, side="right"))
    return float(mixture[min(k, len(mixture) - 1)][0])


def sample(rng: np.random.Generator, spec: StrengthSpec) -> StrengthParams:
    """Draw the colour strength, then the geometric one (one uniform number each, only for a
    non-empty mixture)."""
    return StrengthParams(color=_draw(rng, spec.color), geometric=_draw(rng, spec.geometric))


def parse_mixture(text: str) -> Mixture:
    """``"0:1,0.5:2,1:1"`` → ``((0.0, 1.0), (0.5, 2.0), (1.0, 1.0))``; ``"0.5"`` → ``((0.5, 1.0),)``.

    Raises
    ------
    SpecError
        Malformed text, strengths outside [0, 1] or non-positive weights.
    """
    pairs = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        s, _, w = part.partition(":")
        try:
            pairs.append((float(s), float(w) if w else 1.0))
        except ValueError:
            raise SpecError(f"cannot read the mixture {text!r}: write STRENGTH:WEIGHT pairs separated by commas, e.g. 0:1,0.5:1,1:2") from None
    if not pairs:
        raise SpecError(f"the mixture {text!r} is empty")
    return _check_mixture("mixture", pairs)


def format_mixture(mixture: Mixture) -> str:
    """Inverse of :func:`parse_mixture` (``""`` for the empty mixture)."""
    return ",".join(f"{s:g}:{w:g}" for s, w in mixture)


def strength_spec(color: str | None = None, geometric: str | None = None) -> StrengthSpec:
    """A :class:`StrengthSpec` from the text form of its two mixtures (``None`` or ``""``: empty)."""
    return StrengthSpec(
        color=parse_mixture(color) if color else (),
        geometric=parse_mixture(geometric) if geometric else (),
    )
