"""``T_color = T_s ∘ T_h ∘ T_c ∘ T_b`` (paper eq. 1-2): a random global colour transform.

Applied in this order to a float image in [0, 1]:

1. ``T_b`` brightness: add one bias ``Δ2`` to all channels (no clipping yet).
2. ``T_c`` contrast: ``(I_i − m_i)·λ_i + m_i`` per channel, where **m_i is the mean of channel i
   of the image T_c receives (after T_b) over the statistics region**: the copy-paste mask M
   inside the pipeline (the content that gets pasted), or the whole frame when no region is
   given. The mean is taken in float64. The result is clipped to [0, 1], the RGB cube on which
   HSV is defined.
3. ``T_h`` hue: convert to HSV (scikit-image's definition), add ``Δ1`` to H modulo 1.
4. ``T_s`` saturation: multiply S by ``k1`` and clip S to [0, 1], convert back to RGB.

Hue and saturation share one HSV round trip: changing H and S are independent operations in
HSV, so one round trip equals two (grey pixels, S = 0, stay grey either way).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SpecError
from ._checks import as_float_image, check_range, frozen_array

__all__ = ["ColorSpec", "ColorParams", "FIELDS", "PACKED_FIELDS", "packed", "sample", "identity", "apply", "rgb_to_hsv", "hsv_to_rgb"]


@dataclass(frozen=True)
class ColorSpec:
    """Sampling ranges of one colour transform (defaults: the paper's).

    Parameters
    ----------
    brightness : (float, float)
        Range of the bias ``Δ2`` added to all channels, within [-1, 1].
    contrast : (float, float)
        Range of each channel's contrast factor ``λ_i``, within [0, 4].
    hue : (float, float)
        Range of the hue bias ``Δ1`` (in turns, H wraps in [0, 1)), within [-1, 1].
    saturation : (float, float)
        Range of the saturation factor ``k1``, within [0, 4].
    """

    brightness: tuple[float, float] = (-0.5, 0.5)
    contrast: tuple[float, float] = (0.5, 1.5)
    hue: tuple[float, float] = (-0.5, 0.5)
    saturation: tuple[float, float] = (0.5, 1.5)

    def __post_init__(self) -> None:
        object.__setattr__(self, "brightness", check_range("color.brightness", self.brightness, -1, 1))
        object.__setattr__(self, "contrast", check_range("color.contrast", self.contrast, 0, 4))
        object.__setattr__(self, "hue", check_range("color.hue", self.hue, -1, 1))
        object.__setattr__(self, "saturation", check_range("color.saturation", self.saturation, 0, 4))

    def scaled(self, strength: float) -> ColorSpec:
        """These ranges shrunk towards the identity by ``strength`` in [0, 1] (0: identity)."""
        if not 0 <= strength <= 1:
            raise SpecError(f"strength must lie in [0, 1], got {strength}")

        def shrink(r: tuple[float, float], centre: float) -> tuple[float, float]:
            return (centre + (r[0] - centre) * strength, centre + (r[1] - centre) * strength)

        return ColorSpec(
            brightness=shrink(self.brightness, 0.0),
            contrast=shrink(self.contrast, 1.0),
            hue=shrink(self.hue, 0.0),
            saturation=shrink(self.saturation, 1.0),
        )


@dataclass(frozen=True)
class ColorParams:
    """Sampled parameters of one colour transform."""

    brightness: float  # Δ2
    contrast: np.ndarray = field(default_factory=lambda: frozen_array((1.0, 1.0, 1.0), np.float64))  # λ_1..3
    hue: float = 0.0  # Δ1
    saturation: float = 1.0  # k1

    def __post_init__(self) -> None:
        object.__setattr__(self, "brightness", float(self.brightness))
        object.__setattr__(self, "contrast", frozen_array(self.contrast, np.float64, (3,)))
        object.__setattr__(self, "hue", float(self.hue))
        object.__setattr__(self, "saturation", float(self.saturation))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ColorParams)
            and self.brightness == other.brightness
            and bool(np.array_equal(self.contrast, other.contrast))
            and self.hue == other.hue
            and self.saturation == other.saturation
        )

    def to_record(self) -> dict[str, np.ndarray | float]:
        return {"brightness": self.brightness, "contrast": np.array(self.contrast), "hue": self.hue, "saturation": self.saturation}

    @classmethod
    def from_record(cls, record: dict) -> ColorParams:
        return cls(
            brightness=float(record["brightness"]),
            contrast=np.asarray(record["contrast"], dtype=np.float64),
            hue=float(record["hue"]),
            saturation=float(record["saturation"]),
        )


#: Storage schema of :class:`ColorParams`: field -> (shape, dtype).
FIELDS = {"brightness": ((), "float64"), "contrast": ((3,), "float64"), "hue": ((), "float64"), "saturation": ((), "float64")}


#: The entries of :func:`packed`, in order.
PACKED_FIELDS = ("brightness", "contrast_r", "contrast_g", "contrast_b", "hue", "saturation")


def packed(params: ColorParams) -> np.ndarray:
    """The parameters of one transform as one float64 vector (the layout the fused kernels read).

    ``(Δ2, λ_1, λ_2, λ_3, Δ1 mod 1, k1)`` (:data:`PACKED_FIELDS`): the hue bias is wrapped into
    [0, 1) turns, which changes nothing as :func:`apply` adds it to H modulo 1.
    """
    return np.array([params.brightness, *params.contrast, params.hue % 1.0, params.saturation], dtype=np.float64)


def identity() -> ColorParams:
    """Parameters that leave an image unchanged (Δ = 0, λ = 1, k = 1)."""
    return ColorParams(brightness=0.0, contrast=np.ones(3), hue=0.0, saturation=1.0)


def sample(rng: np.random.Generator, spec: ColorSpec) -> ColorParams:
    """Draw parameters, always in the order brightness, contrast (3), hue, saturation."""
    brightness = rng.uniform(*spec.brightness)
    contrast = rng.uniform(*spec.contrast, size=3)
    hue = rng.uniform(*spec.hue)
    saturation = rng.uniform(*spec.saturation)
    return ColorParams(brightness=brightness, contrast=contrast, hue=hue, saturation=saturation)


def channel_means(image: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    """Per-channel float64 means of ``image`` over ``region`` (bool/0-1 mask) or the whole frame."""
    if region is None:
        return image.reshape(-1, 3).mean(axis=0, dtype=np.float64)
    region = np.asarray(region).astype(bool)
    if region.shape != image.shape[:2]:
        raise SpecError(f"region shape {region.shape} does not match image shape {image.shape[:2]}")
    if not region.any():
        raise SpecError("the statistics region of the contrast transform is empty")
    return image[region].mean(axis=0, dtype=np.float64)


def apply(image: np.ndarray, params: ColorParams, *, region: np.ndarray | None = None) -> np.ndarray:
    """Apply one colour transform.

    Parameters
    ----------
    image : ndarray, (H, W, 3), uint8 or float in [0, 1]
        The input image (uint8 is divided by 255).
    params : ColorParams
        The sampled parameters.
    region : ndarray, (H, W), optional
        Pixels over which the contrast means ``m_i`` are taken (default: the whole frame).

    Returns
    -------
    ndarray, (H, W, 3), float32 in [0, 1]
    """
    x = as_float_image(image)
    if params.brightness != 0.0:
        x = x + np.float32(params.brightness)  # T_b
    if np.any(params.contrast != 1.0):
        m = channel_means(x, region).astype(np.float32)  # m_i of the image T_c receives
        x = (x - m) * params.contrast.astype(np.float32) + m  # T_c
    x = np.clip(x, 0.0, 1.0)  # (a new array: the caller's image is never modified)
    if params.hue == 0.0 and params.saturation == 1.0:
        return x
    hsv = rgb_to_hsv(x)
    hsv[..., 0] = np.mod(hsv[..., 0] + np.float32(params.hue), np.float32(1.0))  # T_h
    hsv[..., 0][hsv[..., 0] >= 1.0] = 0.0  # float rounding of mod can give exactly 1.0
    hsv[..., 1] = np.clip(hsv[..., 1] * np.float32(params.saturation), 0.0, 1.0)  # T_s
    return hsv_to_rgb(hsv)


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] to HSV in [0, 1] (scikit-image's convention: H = 0 and S = 0 for greys)."""
    rgb = rgb.astype(np.float32, copy=False)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    delta = v - rgb.min(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(v > 0, delta / np.where(v > 0, v, 1), 0).astype(np.float32)
        d = np.where(delta > 0, delta, 1)
        h = np.where(
            r == v,
            (g - b) / d,
            np.where(g == v, 2.0 + (b - r) / d, 4.0 + (r - g) / d),
        )
    h = np.where(delta > 0, (h / 6.0) % 1.0, 0.0).astype(np.float32)
    return np.stack([h, s, v], axis=-1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] to RGB in [0, 1] (the inverse of :func:`rgb_to_hsv`)."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    h6 = h * np.float32(6.0)
    i = np.floor(h6)
    f = h6 - i
    i = i.astype(np.int64) % 6
    p = v * (1 - s)
    q = v * (1 - f * s)
    t = v * (1 - (1 - f) * s)
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1).astype(np.float32, copy=False)
