"""``T_tone`` (beyond the paper): a camera-like tone change of the source for a share of the tuples.

Photos of different cameras and lights differ by exposure, white balance and tone curve: a gain
per channel and a gamma, which the paper's ``T_shading`` (brightness, per-channel contrast around
the region's mean, hue and saturation in HSV, two transforms mixed by a smooth field) does not
draw. With probability ``probability`` (one uniform number from the tuple's own stream,
``"tone"``) a tuple's source is ``T_geometric(I)`` under one global per-channel curve *instead of*
``T_shading`` (its two colour transforms are then the identity)::

    out_c = clip(255 · gain_c · (I_c / 255) ** gamma + offset_c, 0, 255)

with ``gain_c = exposure · balance_c``: ``exposure`` log-uniform in :attr:`ToneSpec.exposure`, each
``balance_c`` log-uniform in :attr:`ToneSpec.white_balance`, ``gamma`` log-uniform in
:attr:`ToneSpec.gamma` and each ``offset_c`` uniform in :attr:`ToneSpec.offset` (levels of 255).
On uint8 images the curve is a 256-entry table per channel (:func:`table`, rounded half up);
on float images in [0, 1] it is the formula itself.

The default spec (probability 0) draws nothing: the paper's tuples, bit for bit, and the spec's
JSON leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import SpecError
from ._checks import check_range, frozen_array

__all__ = ["ToneSpec", "ToneParams", "FIELDS", "sample", "identity", "table", "apply", "apply_masked"]

#: Storage schema of :meth:`ToneParams.to_record` (the HDF5 ``params/tone/*`` datasets).
FIELDS = {"active": ((), "bool"), "gain": ((3,), "float64"), "gamma": ((), "float64"), "offset": ((3,), "float64")}


@dataclass(frozen=True)
class ToneSpec:
    """How often and how strongly ``T_tone`` replaces ``T_shading``.

    Parameters
    ----------
    probability : float
        Share of the tuples whose source gets a tone change instead of the colour transforms,
        in [0, 1]; 0 (the default) draws nothing.
    exposure : (float, float)
        Range of the gain common to the three channels (log-uniform), within (0, 4].
    white_balance : (float, float)
        Range of each channel's own factor on that gain (log-uniform), within (0, 4].
    gamma : (float, float)
        Range of the exponent (log-uniform), within (0, 4].
    offset : (float, float)
        Range of each channel's offset in levels of 255 (uniform), within [-128, 128].
    """

    probability: float = 0.0
    exposure: tuple[float, float] = (0.75, 1.33)
    white_balance: tuple[float, float] = (0.86, 1.16)
    gamma: tuple[float, float] = (0.75, 1.33)
    offset: tuple[float, float] = (-12.0, 12.0)

    def __post_init__(self) -> None:
        p = self.probability
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0.0 <= float(p) <= 1.0:
            raise SpecError(f"tone.probability must be a number in [0, 1], got {p!r}")
        object.__setattr__(self, "probability", float(p))
        for name in ("exposure", "white_balance", "gamma"):
            lo, hi = check_range(f"tone.{name}", getattr(self, name), 0, 4)
            if lo <= 0:
                raise SpecError(f"tone.{name} must be positive, got {(lo, hi)}")
            object.__setattr__(self, name, (lo, hi))
        object.__setattr__(self, "offset", check_range("tone.offset", self.offset, -128, 128))

    @property
    def is_default(self) -> bool:
        """Whether no tuple gets a tone change (nothing drawn, left out of the spec's JSON)."""
        return self.probability == 0.0


@dataclass(frozen=True)
class ToneParams:
    """The tone change drawn for one tuple (``active`` False: none, ``T_shading`` applies)."""

    active: bool = False
    gain: np.ndarray = field(default_factory=lambda: frozen_array((1.0, 1.0, 1.0), np.float64))
    gamma: float = 1.0
    offset: np.ndarray = field(default_factory=lambda: frozen_array((0.0, 0.0, 0.0), np.float64))

    def __post_init__(self) -> None:
        object.__setattr__(self, "active", bool(self.active))
        object.__setattr__(self, "gain", frozen_array(self.gain, np.float64))
        object.__setattr__(self, "gamma", float(self.gamma))
        object.__setattr__(self, "offset", frozen_array(self.offset, np.float64))
        if self.gain.shape != (3,) or self.offset.shape != (3,):
            raise SpecError(f"tone gain and offset must hold 3 values, got {self.gain.shape} and {self.offset.shape}")
        if not (np.all(self.gain > 0) and self.gamma > 0 and np.all(np.isfinite(self.offset))):
            raise SpecError(f"tone gain and gamma must be positive and the offset finite, got {self.gain}, {self.gamma}, {self.offset}")

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ToneParams)
            and self.active == other.active
            and bool(np.array_equal(self.gain, other.gain))
            and self.gamma == other.gamma
            and bool(np.array_equal(self.offset, other.offset))
        )

    def to_record(self) -> dict[str, Any]:
        """``{field: value}`` in the layout of :data:`FIELDS`."""
        return {"active": self.active, "gain": self.gain, "gamma": self.gamma, "offset": self.offset}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ToneParams:
        """Inverse of :meth:`to_record`."""
        return cls(active=bool(record["active"]), gain=record["gain"], gamma=float(record["gamma"]), offset=record["offset"])


def identity() -> ToneParams:
    """No tone change."""
    return ToneParams()


def _log_uniform(rng: np.random.Generator, r: tuple[float, float], size: int | None = None) -> Any:
    return np.exp(rng.uniform(np.log(r[0]), np.log(r[1]), size))


def sample(rng: np.random.Generator, spec: ToneSpec) -> ToneParams:
    """Draw whether the tuple gets a tone change (one uniform number), then, if it does, the
    exposure, the three white-balance factors, the gamma and the three offsets, in that order."""
    if rng.random() >= spec.probability:
        return identity()
    exposure = _log_uniform(rng, spec.exposure)
    balance = _log_uniform(rng, spec.white_balance, 3)
    gamma = _log_uniform(rng, spec.gamma)
    offset = rng.uniform(spec.offset[0], spec.offset[1], 3)
    return ToneParams(active=True, gain=exposure * balance, gamma=float(gamma), offset=offset)


def table(params: ToneParams) -> np.ndarray:
    """The curve of ``params`` on the 256 levels of a uint8 channel: (256, 3) uint8, rounded half up."""
    v = np.arange(256, dtype=np.float64)[:, None] / 255.0
    out = 255.0 * params.gain[None, :] * v**params.gamma + params.offset[None, :]
    return np.floor(np.clip(out, 0.0, 255.0) + 0.5).astype(np.uint8)


def apply(image: np.ndarray, params: ToneParams) -> np.ndarray:
    """The tone change of ``params`` applied to every pixel of ``image``.

    Parameters
    ----------
    image : ndarray, (H, W, 3)
        uint8 (through :func:`table`) or float in [0, 1] (the formula, clipped to [0, 1], float32).
    params : ToneParams
        An inactive one returns ``image`` unchanged (the same array).

    Returns
    -------
    ndarray
        The same dtype as ``image`` (float32 for float input).
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise SpecError(f"tone.apply needs an (H, W, 3) image, got shape {img.shape}")
    if not params.active:
        return img
    if img.dtype == np.uint8:
        lut = table(params)
        return np.stack([lut[img[..., c], c] for c in range(3)], axis=-1)
    x = np.clip(img.astype(np.float64), 0.0, 1.0)
    out = params.gain * x**params.gamma + params.offset / 255.0
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def apply_masked(I_S: np.ndarray, M: np.ndarray, params: ToneParams | None) -> np.ndarray:  # noqa: N803 - the paper's names
    """A rendered ``I_S = T_geometric(I)·M`` under the tone change, in place, inside ``M`` only.

    How the pipeline applies ``T_tone`` (its colour transforms are then the identity): a uint8
    tuple gets the table applied to the quantised warp, a float32 one the formula; outside ``M``
    ``I_S`` stays zero. ``None`` or an inactive change leaves ``I_S`` as it is.

    Parameters
    ----------
    I_S : ndarray, (H, W, 3), uint8 or float32
        Written in place.
    M : ndarray, (H, W)
        The mask (non-zero inside).
    params : ToneParams or None

    Returns
    -------
    ndarray
        ``I_S``.
    """
    if params is None or not params.active:
        return I_S
    inside = np.asarray(M) != 0
    I_S[inside] = apply(I_S[inside][None], params)[0]
    return I_S
