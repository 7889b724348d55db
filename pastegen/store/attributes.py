"""Root attributes of tuple files: encoding values for HDF5, decoding and reading them back.

Plain ``str``, ``int`` (64-bit) and ``float`` values are stored as themselves; anything else as
a JSON string (:func:`pastegen.jsonvalues.json_default` converts NumPy values, paths, tuples and
sets), whose name is listed in the ``json_attrs`` attribute so that :func:`read_attrs` parses it
back. Equality of attribute values (resume, combine) is :func:`pastegen.jsonvalues.canonical_json`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SpecError
from ..jsonvalues import json_default

if TYPE_CHECKING:  # pragma: no cover
    import h5py

__all__ = ["decode_value", "encode_attr", "json_list", "read_attrs"]


def encode_attr(name: str, value: Any) -> tuple[Any, bool]:
    """``(stored value, is_json)``: str/int/float as themselves, anything else as a JSON string.

    Raises
    ------
    SpecError
        ``value`` is not JSON-able.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return value, False
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value, False
    if isinstance(value, float):
        return value, False
    try:
        return json.dumps(value, default=json_default), True
    except (TypeError, ValueError) as e:
        raise SpecError(f"attribute {name!r} cannot be stored: {e} (give JSON-able values)") from None


def decode_value(value: Any) -> Any:
    """An attribute value as read by h5py, as Python values (bytes as text, arrays as lists)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [decode_value(v) for v in value.tolist()] if value.ndim else decode_value(value[()])
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_attrs(obj: h5py.HLObject) -> dict[str, Any]:
    """Decoded attributes: plain values as Python types, those listed in ``json_attrs`` parsed."""
    raw = {}
    for k in obj.attrs.keys():
        try:
            raw[k] = decode_value(obj.attrs[k])
        except Exception:  # noqa: BLE001 - an attribute type h5py cannot read (foreign files)
            continue
    json_names = json_list(raw.get("json_attrs"))
    for k in ("json_attrs", "run_attrs"):
        if k in raw:
            raw[k] = json_list(raw[k])
    for k in json_names:
        if k in raw and isinstance(raw[k], str):
            try:
                raw[k] = json.loads(raw[k])
            except json.JSONDecodeError:
                pass
    return raw


def json_list(value: Any) -> list[str]:
    """A list of names stored as a JSON array (``json_attrs``, ``run_attrs``); [] when unreadable."""
    if isinstance(value, list):
        return [str(x) for x in value]
    if not isinstance(value, str):
        return []
    try:
        out = json.loads(value)
    except json.JSONDecodeError:
        return []
    return [str(x) for x in out] if isinstance(out, list) else []
