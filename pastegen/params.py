"""The parameters drawn for one tuple: :class:`TupleParams`, their storage schema, derived parameters.

:meth:`pastegen.pipeline.TupleGenerator.sample_params` draws them (the only place randomness
happens); rendering is a pure function of a crop and these parameters, so storing them next to
a tuple (the HDF5 ``params`` group, laid out by :func:`param_fields`) replays it exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .components import color, crop, geometric, mask, mix, tone
from .spec import TupleSpec

__all__ = ["TupleParams", "geometric_only", "grown_mask", "param_fields"]

_PARAM_COMPONENTS = ("crop", "geometric", "color_a", "color_b", "mix", "mask")


@dataclass(frozen=True)
class TupleParams:
    """Everything drawn for one tuple: replaying these reproduces the tuple exactly.

    ``tone`` is ``None`` for a spec without tone changes (the paper's tuples: no ``tone/*`` fields
    in the record) and a :class:`~pastegen.components.tone.ToneParams` otherwise (inactive for the
    tuples that keep ``T_shading``).
    """

    index: int
    source_index: int
    crop: crop.CropParams
    geometric: geometric.GeometricParams
    color_a: color.ColorParams
    color_b: color.ColorParams
    mix: mix.MixParams
    mask: mask.MaskParams
    tone: tone.ToneParams | None = None

    def to_record(self) -> dict[str, Any]:
        """Flat ``{"component/field": value}`` dict, the layout of the HDF5 ``params`` group."""
        record: dict[str, Any] = {}
        for name in _PARAM_COMPONENTS:
            for key, value in getattr(self, name).to_record().items():
                record[f"{name}/{key}"] = value
        if self.tone is not None:
            for key, value in self.tone.to_record().items():
                record[f"tone/{key}"] = value
        return record

    @classmethod
    def from_record(cls, index: int, source_index: int, record: Mapping[str, Any]) -> TupleParams:
        """Inverse of :meth:`to_record`."""
        parts: dict[str, dict[str, Any]] = {name: {} for name in (*_PARAM_COMPONENTS, "tone")}
        for key, value in record.items():
            name, _, sub = key.partition("/")
            if name in parts:
                parts[name][sub] = value
        return cls(
            index=int(index),
            source_index=int(source_index),
            crop=crop.CropParams.from_record(parts["crop"]),
            geometric=geometric.GeometricParams.from_record(parts["geometric"]),
            color_a=color.ColorParams.from_record(parts["color_a"]),
            color_b=color.ColorParams.from_record(parts["color_b"]),
            mix=mix.MixParams.from_record(parts["mix"]),
            mask=mask.MaskParams.from_record(parts["mask"]),
            tone=tone.ToneParams.from_record(parts["tone"]) if parts["tone"] else None,
        )


def param_fields(spec: TupleSpec) -> dict[str, tuple[tuple[int, ...], str]]:
    """The storage schema of :meth:`TupleParams.to_record` for ``spec``."""
    schemas: dict[str, Mapping[str, tuple[tuple[int, ...], str]]] = {
        "crop": crop.FIELDS,
        "geometric": geometric.FIELDS,
        "color_a": color.FIELDS,
        "color_b": color.FIELDS,
        "mix": mix.fields(spec.mix),
        "mask": mask.FIELDS,
    }
    if not spec.tone.is_default:
        schemas["tone"] = tone.FIELDS
    return {f"{name}/{key}": (tuple(shape), dtype) for name, schema in schemas.items() for key, (shape, dtype) in schema.items()}


def geometric_only(params: TupleParams) -> TupleParams:
    """``params`` with both colour transforms replaced by the identity: ``T`` reduced to ``T_geometric``.

    Rendering the result gives ``I_S = T_geometric(I)·M``: the pasted content where ``T`` put it,
    with the photo's own colours. That is the harmonisation target of the tuple (what a method that
    only changes colours should turn ``T(I)·M`` into), where ``I`` is the target of a method that
    also undoes the geometry (the paper's). The mixing field is kept; blending two identical
    transforms is the identity. A tone change (:mod:`pastegen.components.tone`) is dropped too.
    """
    toned = None if params.tone is None else tone.identity()
    return dataclasses.replace(params, color_a=color.identity(), color_b=color.identity(), tone=toned)


def grown_mask(params: TupleParams, pixels: float) -> TupleParams:
    """``params`` with the mask's rectangle grown by ``pixels`` on every side (width and height + 2·pixels).

    Rendering the result gives ``T(I)`` also around ``M``: with ``pixels = 1`` on every pixel
    4-adjacent to ``M`` (the border values Poisson image editing reads from the source). Inside
    ``M`` it equals the tuple's ``T(I)`` up to the contrast statistics, which ``T_c`` takes over
    the grown region (:mod:`pastegen.components.color`); a transform without contrast change, or
    :func:`geometric_only` parameters, give exactly the tuple's values there.
    """
    m = params.mask
    return dataclasses.replace(params, mask=dataclasses.replace(m, width=m.width + 2 * float(pixels), height=m.height + 2 * float(pixels)))
