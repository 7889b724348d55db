"""What defines a run's tuples apart from the seed and the photos: :class:`TupleSpec` and the presets.

A spec holds one sub-spec per component of ``T`` (:mod:`pastegen.components`), the working size
and the components that are disabled. It is stored in every tuple file as canonical JSON
(:meth:`TupleSpec.to_json`), so its fields and their JSON form are part of the file format.
Importing this module needs only NumPy and the components (no Numba, no HDF5).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .components import color, crop, geometric, mask, mix, strength, tone
from .errors import SpecError

__all__ = ["DISABLEABLE", "PRESETS", "TupleSpec", "preset"]

#: Components that a spec may disable (a disabled component uses identity parameters and draws
#: nothing; the other components' draws are unchanged).
DISABLEABLE = ("geometric", "color_a", "color_b", "mix")

_SUBSPECS = {
    "crop": crop.CropSpec,
    "geometric": geometric.GeometricSpec,
    "color": color.ColorSpec,
    "mix": mix.MixSpec,
    "mask": mask.MaskSpec,
    "strength": strength.StrengthSpec,
    "tone": tone.ToneSpec,
}


@dataclass(frozen=True)
class TupleSpec:
    """Everything that defines a run's tuples apart from the seed and the source photos.

    Parameters
    ----------
    height, width : int
        Working size of the tuples in pixels (8 to 8192).
    crop : CropSpec
        Resize policy and crop mode.
    geometric : GeometricSpec
        Corner-offset range σ (pixels at the working size) and border rule of ``T_geometric``.
    color : ColorSpec
        Ranges of both colour transforms of ``T_shading``.
    mix : MixSpec
        Grid size and salt probability of the mixing field.
    mask : MaskSpec
        Size and angle ranges of the rotated-rectangle mask.
    disabled : tuple of str
        Components replaced by their identity (see :data:`DISABLEABLE`); e.g. ``("mix",)``
        gives the paper's global-shading ablation, ``("geometric",)`` σ = 0.
    strength : StrengthSpec
        Per-tuple mixtures of colour and geometric strength (beyond the paper; see
        :mod:`pastegen.components.strength`). The default draws nothing: the paper's tuples. It is
        left out of :meth:`to_dict` while it is the default, so older files' specs still match.
    tone : ToneSpec
        Share and ranges of the camera-like tone changes that replace ``T_shading`` (beyond the
        paper; see :mod:`pastegen.components.tone`). The default (probability 0) draws nothing
        and is left out of :meth:`to_dict` like ``strength``.
    name : str
        The preset this spec came from (informational).
    """

    height: int = 512
    width: int = 512
    crop: crop.CropSpec = field(default_factory=crop.CropSpec)
    geometric: geometric.GeometricSpec = field(default_factory=geometric.GeometricSpec)
    color: color.ColorSpec = field(default_factory=color.ColorSpec)
    mix: mix.MixSpec = field(default_factory=mix.MixSpec)
    mask: mask.MaskSpec = field(default_factory=mask.MaskSpec)
    disabled: tuple[str, ...] = ()
    name: str = "custom"
    strength: strength.StrengthSpec = field(default_factory=strength.StrengthSpec)
    tone: tone.ToneSpec = field(default_factory=tone.ToneSpec)

    def __post_init__(self) -> None:
        for dim in ("height", "width"):
            value = getattr(self, dim)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 8 <= value <= 8192:
                raise SpecError(f"{dim} must be an integer between 8 and 8192, got {value!r}")
            object.__setattr__(self, dim, int(value))
        for key, cls in _SUBSPECS.items():
            if not isinstance(getattr(self, key), cls):
                raise SpecError(f"{key} must be a {cls.__name__}, got {type(getattr(self, key)).__name__}")
        disabled = tuple(sorted(set(self.disabled)))
        unknown = [d for d in disabled if d not in DISABLEABLE]
        if unknown:
            raise SpecError(f"cannot disable {unknown}; components that can be disabled: {DISABLEABLE}")
        object.__setattr__(self, "disabled", disabled)
        self.mask.check_size(self.height, self.width)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return (self.height, self.width)

    def enabled(self, component: str) -> bool:
        """Whether ``component`` draws and applies its parameters."""
        return component not in self.disabled

    def replace(self, **changes: Any) -> TupleSpec:
        """A copy with fields replaced; ``sigma=`` is accepted as a shortcut for ``geometric.sigma``."""
        if "sigma" in changes:
            changes["geometric"] = dataclasses.replace(changes.get("geometric", self.geometric), sigma=changes.pop("sigma"))
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (tuples become lists); ``strength`` and ``tone`` only when not the default."""
        data = json.loads(json.dumps(dataclasses.asdict(self)))
        if self.strength.is_default:
            del data["strength"]
        if self.tone.is_default:
            del data["tone"]
        return data

    def to_json(self) -> str:
        """Canonical JSON (sorted keys); equal specs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TupleSpec:
        """Rebuild and validate a spec from :meth:`to_dict` output; unknown keys are errors."""
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"unknown spec keys: {unknown}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in _SUBSPECS:
                sub = _SUBSPECS[key]
                if not isinstance(value, Mapping):
                    raise SpecError(f"spec.{key} must be a mapping, got {value!r}")
                sub_known = {f.name for f in dataclasses.fields(sub)}
                bad = sorted(set(value) - sub_known)
                if bad:
                    raise SpecError(f"unknown keys in spec.{key}: {bad}")
                if key == "strength":
                    kwargs[key] = sub(**{k: tuple(tuple(p) for p in v) for k, v in value.items()})
                else:
                    kwargs[key] = sub(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
            elif key == "disabled":
                kwargs[key] = tuple(value)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> TupleSpec:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"spec is not valid JSON: {exc}") from None
        return cls.from_dict(data)


#: Named presets. ``faces`` and ``cityscapes`` follow the paper (section 3.1.3 and 3.3);
#: ``scenes`` is for street photos of CamVid's size (480x360); ``photos`` for any folder of photos
#: (``--images``): the shorter side matched to 512, a random square cut; ``sample`` is the small embedded
#: default run on the photos bundled in the scikit-image/scikit-learn/matplotlib wheels.
PRESETS: Mapping[str, TupleSpec] = {
    "faces": TupleSpec(512, 512, crop=crop.CropSpec(mode="resize"), geometric=geometric.GeometricSpec(sigma=15.0), name="faces"),
    "cityscapes": TupleSpec(
        512, 512, crop=crop.CropSpec(mode="scale-crop", scale=0.5), geometric=geometric.GeometricSpec(sigma=10.0), name="cityscapes"
    ),
    "scenes": TupleSpec(256, 256, crop=crop.CropSpec(mode="cover-crop"), geometric=geometric.GeometricSpec(sigma=5.0), name="scenes"),
    "photos": TupleSpec(512, 512, crop=crop.CropSpec(mode="cover-crop"), geometric=geometric.GeometricSpec(sigma=15.0), name="photos"),
    "sample": TupleSpec(256, 256, crop=crop.CropSpec(mode="cover-crop"), geometric=geometric.GeometricSpec(sigma=7.5), name="sample"),
}


def preset(name: str, **changes: Any) -> TupleSpec:
    """The preset ``name`` with optional changes (e.g. ``sigma=15``, ``height=256``)."""
    if name not in PRESETS:
        raise SpecError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**changes) if changes else PRESETS[name]
