"""The frozen evaluation set: pastegen tuples from held-out photos, in difficulty sweeps.

A **setting** is one point of a sweep: a dataset (``faces`` or ``scenes``, split ``test``), the
working size, σ and a colour strength. Its samples are tuples ``0 .. n-1`` of
``pastegen.TupleGenerator(dataset_paths(dataset, split="test"), spec, seed)``, where ``spec`` is
the dataset's preset at the working size with

- σ given **in pixels at 512** (the paper's face setting) and scaled to the working size:
  ``σ_work = σ_512 · size / 512`` (so 0, 5, 10, 15, 20 at 512 are 0, 2.5, 5, 7.5, 10 at 256);
- the colour transforms' ranges shrunk towards the identity by the strength ``s ∈ [0, 1]``
  (:meth:`pastegen.components.color.ColorSpec.scaled`: brightness, contrast, hue and saturation
  ranges all scaled by ``s`` around their identity values; ``s = 1`` are the paper's ranges).

Because pastegen draws every component from its own seeded stream and the offsets and colour
parameters are uniform draws scaled by the ranges, the samples of one sweep share their photos,
crops, masks and mixing fields: only the swept quantity changes (a controlled sweep).

Each sample holds ``I`` (ground truth), ``I_T = I·(1−M)`` (what the methods get as the target),
``M`` and ``S``: the **whole** transformed photo ``T(I)`` (what pastegen's ``I_S`` holds inside
the mask, and ``T(I)`` computed with the same components outside it). A real copy-paste has the
whole source photo, and gradient-domain methods read the source's pixels around the mask: with
only ``X = I_T + I_S`` they would see the naive seam as a source gradient and reproduce it.

**Freezing.** The SHA-256 of every setting's arrays (``I``, ``I_T``, ``M``, ``S`` of all samples,
in order, with their shapes) is recorded in ``evalset.json`` in the output folder; a later run
with the same setting recomputes it and stops with an error if it differs (pastegen's rendering
changed, or the photos did), unless told to re-freeze.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["Setting", "Sample", "make_spec", "generate", "setting_hash", "FrozenSetError", "check_frozen", "data_root"]


class FrozenSetError(RuntimeError):
    """The evaluation set's arrays no longer match the recorded hash."""


def data_root() -> Path:
    """``PASTEGEN_DATA_ROOT``, else ``../shared/data`` beside the repository."""
    repo = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("PASTEGEN_DATA_ROOT", repo.parent / "shared" / "data"))


@dataclass(frozen=True)
class Setting:
    """One point of a difficulty sweep."""

    dataset: str  # "faces" | "scenes" (pastegen preset and dataset name)
    sweep: str  # "sigma" | "color": what varies along the sweep
    sigma512: float  # σ in pixels at 512 (scaled to the working size)
    strength: float  # colour-range scale in [0, 1]
    n: int  # samples
    size: int = 256  # working size (square)
    seed: int = 2019
    split: str = "test"

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.sweep}/sigma={self.sigma512:g}/color={self.strength:g}/n={self.n}/size={self.size}/seed={self.seed}/{self.split}"

    @property
    def sigma(self) -> float:
        """σ at the working size."""
        return self.sigma512 * self.size / 512.0


@dataclass
class Sample:
    setting: Setting
    index: int
    I: np.ndarray  # noqa: E741
    I_T: np.ndarray
    M: np.ndarray  # bool
    S: np.ndarray  # whole T(I)
    source_name: str

    @property
    def X(self) -> np.ndarray:
        return np.where(self.M[..., None], self.S, self.I_T)


def make_spec(setting: Setting):
    """The pastegen spec of ``setting``."""
    import pastegen

    base = pastegen.preset(setting.dataset)  # "faces", "scenes" or "sample"
    return base.replace(
        height=setting.size,
        width=setting.size,
        sigma=setting.sigma,
        color=base.color.scaled(setting.strength),
    )


def _whole_transform(image: np.ndarray, params, spec) -> np.ndarray:
    """``T(I)`` over the whole frame (uint8), with the components pastegen's render uses."""
    from pastegen.components import geometric, mask, shading
    from pastegen.pipeline import quantize

    m = mask.rasterize(spec.height, spec.width, params.mask)
    warped = geometric.apply(image, params.geometric, border=spec.geometric.border) / np.float32(255)
    return quantize(shading.apply(warped, params.color_a, params.color_b, params.mix, region=m))


def generate(setting: Setting, root: str | os.PathLike | None = None) -> Iterator[Sample]:
    """Yield the samples of ``setting`` in order."""
    import pastegen

    if setting.dataset == "sample":
        paths = pastegen.sample_image_paths()
    else:
        paths = pastegen.dataset_paths(setting.dataset, data_root=root if root is not None else data_root(), split=setting.split)
    gen = pastegen.TupleGenerator(paths, make_spec(setting), seed=setting.seed)
    for i in range(setting.n):
        I, I_T, M, S, name = render_sample(gen, i)
        yield Sample(setting, i, I, I_T, M, S, name)


def render_sample(gen, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """``(I, I_T, M (bool), S = whole T(I), source name)`` of tuple ``i`` of a TupleGenerator."""
    params = gen.sample_params(i)
    t = gen.render(params)
    m = t.M.astype(bool)
    whole = _whole_transform(t.I, params, gen.spec)
    # inside the mask, pastegen's kernel output is the reference (NumPy may round one level off)
    S = np.where(m[..., None], t.I_S, whole)
    return t.I.copy(), t.I_T.copy(), m, S, Path(gen.source_name(params.source_index)).name


def setting_hash(samples: list[Sample]) -> str:
    """SHA-256 of the samples' arrays (I, I_T, M, S in order, shapes included)."""
    h = hashlib.sha256()
    for s in samples:
        for a in (s.I, s.I_T, s.M.astype(np.uint8), s.S):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def check_frozen(path: Path, hashes: dict[str, str], settings: dict[str, Setting], *, refreeze: bool = False) -> dict:
    """Compare ``hashes`` (key -> sha256) with the record at ``path``; add new keys; write it.

    Raises :class:`FrozenSetError` when a recorded key's hash differs (unless ``refreeze``).
    Returns the record written.
    """
    record = {"version": 1, "settings": {}}
    if path.exists():
        record = json.loads(path.read_text())
    changed = [k for k, v in hashes.items() if k in record["settings"] and record["settings"][k]["sha256"] != v]
    if changed and not refreeze:
        raise FrozenSetError(
            f"the evaluation set changed for {len(changed)} setting(s), e.g. {changed[0]}: recorded "
            f"{record['settings'][changed[0]]['sha256'][:12]}, now {hashes[changed[0]][:12]} "
            "(pastegen's rendering or the photos changed); rerun with --refreeze to accept the new set"
        )
    for k, v in hashes.items():
        record["settings"][k] = {"sha256": v, **asdict(settings[k])}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return record
