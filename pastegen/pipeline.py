"""The tuple pipeline: rendering and ``TupleGenerator`` (spec and parameters re-exported).

A training tuple is made from one source photo in three pure steps:

1. ``I = crop.apply(photo, params.crop)``: the ground truth at the working size;
2. ``T(I) = T_shading(T_geometric(I))`` with the contrast statistics taken inside M;
3. ``I_T = I·(1−M)``, ``I_S = T(I)·M`` (uint8, rounding half up), and M itself.

Every random number is drawn in :meth:`TupleGenerator.sample_params`, from one stream per
component (:mod:`pastegen.rng`); :func:`render` is a pure function of the crop and the
parameters, so stored parameters replay a tuple exactly.

:class:`TupleSpec` and the presets live in :mod:`pastegen.spec`, :class:`TupleParams` in
:mod:`pastegen.params` (both importable from here too): the kernels of :mod:`pastegen.kernels`
take them without importing this module, which imports the kernels (on the first render).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .components import color, crop, geometric, mask, mix, shading, strength, tone
from .errors import SourceError, SpecError
from .params import TupleParams, geometric_only, grown_mask, param_fields
from .rng import check_seed, component_rng, source_for_index
from .spec import DISABLEABLE, PRESETS, TupleSpec, preset

__all__ = [
    "TupleSpec",
    "PRESETS",
    "preset",
    "DISABLEABLE",
    "TupleParams",
    "TrainingTuple",
    "Stages",
    "param_fields",
    "render",
    "render_numpy",
    "render_stages",
    "geometric_only",
    "grown_mask",
    "quantize",
    "TupleGenerator",
    "PhotoCache",
    "DEFAULT_PHOTO_CACHE_MB",
]


# --- rendering (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingTuple:
    """One training tuple (all uint8): ``I``, ``I_T = I·(1−M)``, ``I_S = T(I)·M`` and ``M`` (0/1)."""

    I: np.ndarray  # noqa: E741 - the paper's name
    I_T: np.ndarray
    I_S: np.ndarray
    M: np.ndarray
    params: TupleParams

    @property
    def X(self) -> np.ndarray:
        """The network's image input ``I·(1−M) + T(I)·M`` (uint8)."""
        return self.I_T + self.I_S

    def arrays(self) -> dict[str, np.ndarray]:
        """``{"I", "I_T", "I_S", "M"}`` as stored in HDF5."""
        return {"I": self.I, "I_T": self.I_T, "I_S": self.I_S, "M": self.M}


@dataclass(frozen=True)
class Stages:
    """Intermediate images of T for previews (paper Figure 2), float32 in [0, 1]."""

    I: np.ndarray  # noqa: E741
    color: np.ndarray  # T_color(I) with the first colour transform
    shading: np.ndarray  # T_shading(I)
    geometric: np.ndarray  # T_geometric(I)
    T: np.ndarray  # T(I) = T_shading(T_geometric(I))
    M: np.ndarray  # uint8 mask


def quantize(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] to uint8, rounding half up: ``floor(clip(x, 0, 1)·255 + 0.5)``."""
    return np.floor(np.clip(image, 0.0, 1.0) * np.float32(255) + np.float32(0.5)).astype(np.uint8)


def _check_crop(image: np.ndarray, spec: TupleSpec) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.shape != (spec.height, spec.width, 3):
        raise SpecError(f"the crop I must be uint8 of shape {(spec.height, spec.width, 3)}, got {image.dtype} {image.shape}")
    return image


def _transform(image: np.ndarray, params: TupleParams, spec: TupleSpec, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T_geometric(I), T(I)) as float32 in [0, 1]."""
    warped = geometric.apply(image, params.geometric, border=spec.geometric.border) / np.float32(255)
    return warped, shading.apply(warped, params.color_a, params.color_b, params.mix, region=m)


def render(
    image: np.ndarray,
    params: TupleParams,
    spec: TupleSpec,
    *,
    dtype: Any = np.uint8,
    out: Any = None,
    threads: int | None = None,
) -> TrainingTuple:
    """Render (or replay) the tuple of ``params`` from its crop ``I``: a pure function.

    Uses the fused Numba kernels of :mod:`pastegen.kernels`, which compute ``T`` only inside the
    mask; :func:`render_numpy` is the same transformation in plain NumPy (uint8: ``M`` and
    ``I_T`` identical, ``I_S`` within one level).

    Parameters
    ----------
    image : ndarray, (H, W, 3), uint8
        The ground truth ``I``: the source photo after :func:`pastegen.components.crop.apply`.
    params : TupleParams
    spec : TupleSpec
    dtype : {numpy.uint8, numpy.float32}
        uint8 (what the HDF5 store holds) or float32 in [0, 1] (unquantised, for training).
    out : pastegen.kernels.TupleBuffers, optional
        Buffers to render into (reused when shape and dtype match). The returned tuple's arrays
        are those buffers, so they change when the buffers are reused.
    threads : int, optional
        Threads of the kernel (default: Numba's); the result does not depend on it. Use 1 in
        worker processes that already use every core.

    Returns
    -------
    TrainingTuple
        With ``I`` in the requested dtype (float32: ``I / 255``).
    """
    from . import kernels

    image = np.ascontiguousarray(_check_crop(image, spec))
    buffers = kernels.render_tuple(image, params, spec, out=out, dtype=dtype, threads=threads)
    truth = image if buffers.I_T.dtype == np.uint8 else image.astype(np.float32) / np.float32(255)
    return TrainingTuple(I=truth, I_T=buffers.I_T, I_S=buffers.I_S, M=buffers.M, params=params)


def render_numpy(image: np.ndarray, params: TupleParams, spec: TupleSpec) -> TrainingTuple:
    """:func:`render` in vectorised NumPy, through the components' ``apply`` functions (uint8).

    Slower (about 150 ms per 512x512 tuple against about 1 ms) and kept as the readable
    statement of the pipeline; the kernels are tested against it and against
    :mod:`pastegen.reference`.
    """
    image = _check_crop(image, spec)
    m = mask.rasterize(spec.height, spec.width, params.mask)
    _, t = _transform(image, params, spec, m)
    m3 = m[..., None]
    return TrainingTuple(I=image, I_T=image * (1 - m3), I_S=tone.apply_masked(quantize(t) * m3, m, params.tone), M=m, params=params)


def render_stages(image: np.ndarray, params: TupleParams, spec: TupleSpec) -> Stages:
    """The intermediate images of T for ``params`` (paper Figure 2), from the crop ``I``."""
    image = _check_crop(image, spec)
    m = mask.rasterize(spec.height, spec.width, params.mask)
    warped, t = _transform(image, params, spec, m)
    if params.tone is not None:  # an inactive change returns t itself
        t = tone.apply(t, params.tone)
    return Stages(
        I=image.astype(np.float32) / np.float32(255),
        color=color.apply(image, params.color_a, region=m),
        shading=shading.apply(image, params.color_a, params.color_b, params.mix, region=m),
        geometric=warped,
        T=t,
        M=m,
    )


# --- the generator ----------------------------------------------------------------------------

#: Default byte budget (MiB) of :class:`PhotoCache` in ``make`` (``--cache-mb``): it holds the whole
#: faces training set (200 photos of 512x512 and 400 of 256x256: 236 MiB decoded).
DEFAULT_PHOTO_CACHE_MB = 256


class PhotoCache:
    """Decoded source photos kept in memory up to a byte budget, shared by copies of a generator.

    Photos are kept as they are first decoded while they fit in ``budget_bytes``; once the budget is
    full nothing is evicted and other photos are decoded each time they are used (the generator's
    own two-photo LRU still catches immediate reuse). That is the right policy for the generator's
    access pattern: each epoch (one pass over the sources) visits every photo once in a fresh
    seeded random order, so an LRU smaller than the set would evict exactly the photos the next
    epoch needs no sooner than any others and hit less often than a fixed set, which serves a
    fraction ``budget / (bytes of all photos)`` of the tuples of every later epoch. Memory is thus
    bounded by the budget, whatever the number of tuples.

    Thread-safe (``make``'s rendering threads share one); cached arrays are made read-only, as
    the tuples' ``I`` may be a view of them. Pickling (to a worker process) gives an empty cache
    of the same budget. The decoded pixels are exactly those of decoding anew: cached or not, the
    tuples are the same.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = max(0, int(budget_bytes))
        self._lock = threading.Lock()
        self._photos: dict[int, np.ndarray] = {}
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"PhotoCache({len(self._photos)} photos, {self.nbytes / 2**20:.1f} of {self.budget_bytes / 2**20:.1f} MiB)"

    def __len__(self) -> int:
        return len(self._photos)

    def __getstate__(self) -> dict[str, Any]:
        return {"budget_bytes": self.budget_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, state["budget_bytes"])

    def get(self, k: int) -> np.ndarray | None:
        """The cached photo ``k``, or None."""
        image = self._photos.get(k)  # a dict read is atomic; counters are informational
        if image is None:
            self.misses += 1
        else:
            self.hits += 1
        return image

    def put(self, k: int, image: np.ndarray) -> np.ndarray:
        """Keep ``image`` as photo ``k`` if it fits in the budget; returns what to use (read-only when kept)."""
        if k not in self._photos and image.nbytes > self.budget_bytes - self.nbytes:
            return image
        with self._lock:
            if k in self._photos:
                return self._photos[k]
            if image.nbytes > self.budget_bytes - self.nbytes:
                return image
            image = image.view()
            image.flags.writeable = False
            self._photos[k] = image
            self.nbytes += image.nbytes
            return image


Source = Any  # str | os.PathLike | SourceImage | np.ndarray


class TupleGenerator:
    """Index-addressed training tuples: ``TupleGenerator(sources, spec, seed)[i]``.

    Tuple ``i`` depends only on ``(seed, i, spec)`` and the source photos, whatever the order
    in which tuples are asked for or the process that asks. Source ``k`` of epoch ``e`` (one pass
    over all sources) is chosen by a seeded permutation, so every photo is used once per epoch.

    Parameters
    ----------
    sources : sequence
        Source photos: paths, :class:`pastegen.sources.SourceImage` records (from
        :func:`pastegen.sources.scan_sources`) or in-memory RGB uint8 arrays.
    spec : TupleSpec, optional
        Defaults to ``TupleSpec()`` (512x512, the paper's ranges, σ = 15).
    seed : int, optional
        Root seed (non-negative).
    max_pixels : int, optional
        Pixel limit checked before decoding a photo, and on the size it is resized to before the
        crop (:func:`pastegen.components.crop.check_resized_pixels`; a photo above it raises
        :class:`~pastegen.errors.ImageTooLargeError` from :meth:`sample_params`).
    cache_size : int, optional
        Number of recently decoded photos kept in memory (an LRU).
    cache_bytes : int, optional
        Byte budget of a :class:`PhotoCache` of decoded photos (default 0: none), kept by
        copies of this generator; ``make`` uses :data:`DEFAULT_PHOTO_CACHE_MB` MiB. Bounds the
        memory, whatever the number of tuples; the tuples do not depend on it.

    Examples
    --------
    >>> from pastegen import TupleGenerator, preset, sample_image_paths
    >>> gen = TupleGenerator(sample_image_paths(), preset("sample"), seed=0)
    >>> t = gen[0]
    >>> t.I.shape, t.M.dtype
    ((256, 256, 3), dtype('uint8'))
    """

    def __init__(
        self,
        sources: Sequence[Source],
        spec: TupleSpec | None = None,
        seed: int = 0,
        *,
        max_pixels: int | None = None,
        cache_size: int = 2,
        cache_bytes: int = 0,
    ) -> None:
        from . import sources as _sources

        self.spec = spec if spec is not None else TupleSpec()
        if not isinstance(self.spec, TupleSpec):
            raise SpecError(f"spec must be a TupleSpec, got {type(self.spec).__name__}")
        self.seed = check_seed(seed)
        self.sources = list(sources)
        if not self.sources:
            raise SourceError("no source images were given")
        self.max_pixels = _sources.DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
        self._cache_size = max(0, int(cache_size))
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._sizes: dict[int, tuple[int, int]] = {}
        self.photo_cache: PhotoCache | None = PhotoCache(cache_bytes) if cache_bytes and cache_bytes > 0 else None

    def __repr__(self) -> str:
        return f"TupleGenerator({len(self.sources)} sources, spec={self.spec.name!r}, seed={self.seed})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()  # decoded photos are not shipped to workers
        return state

    def __getitem__(self, index: int) -> TrainingTuple:
        return self.render(self.sample_params(index))

    def __iter__(self):  # pragma: no cover - guard against accidental infinite loops
        raise TypeError("TupleGenerator is infinite; index it or use generate(range(...))")

    def generate(self, indices: Iterable[int]) -> Iterable[TrainingTuple]:
        """Yield the tuples of ``indices`` in order."""
        for i in indices:
            yield self[i]

    @property
    def param_fields(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Storage schema of the parameters (see :func:`param_fields`)."""
        return param_fields(self.spec)

    # sources ----------------------------------------------------------------------------------

    def source_name(self, k: int) -> str:
        """A printable name of source ``k``."""
        src = self.sources[k]
        if isinstance(src, np.ndarray):
            return f"<array {k}>"
        return str(getattr(src, "path", src))

    def source_size(self, k: int) -> tuple[int, int]:
        """(height, width) of source ``k``, read from the header without decoding when possible."""
        if k not in self._sizes:
            from . import sources as _sources

            src = self.sources[k]
            if isinstance(src, np.ndarray):
                size = src.shape[:2]
            elif hasattr(src, "height"):
                size = (src.height, src.width)
            else:
                size = _sources.read_image_size(os.fspath(src), max_pixels=self.max_pixels)
            self._sizes[k] = (int(size[0]), int(size[1]))
        return self._sizes[k]

    def load(self, k: int) -> np.ndarray:
        """Decoded RGB uint8 source ``k`` (cached)."""
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        shared = self.photo_cache
        if shared is not None:
            image = shared.get(k)
            if image is not None:
                return image
        from . import sources as _sources

        src = self.sources[k]
        if isinstance(src, np.ndarray):
            image = src
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise SpecError(f"in-memory source {k} must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
        else:
            # a photo scan_sources checked (a SourceImage) needs no second check of its JPEG data
            scanned = isinstance(src, _sources.SourceImage)
            image = _sources.decode_image(os.fspath(getattr(src, "path", src)), max_pixels=self.max_pixels, check_jpeg=not scanned)
            expected = self.source_size(k)
            if image.shape[:2] != expected:
                raise SourceError(f"{self.source_name(k)} changed since it was scanned: {image.shape[:2]} instead of {expected}")
            if shared is not None:
                image = shared.put(k, image)
        if self._cache_size:
            self._cache[k] = image
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return image

    # parameters and rendering -----------------------------------------------------------------

    def sample_params(self, index: int) -> TupleParams:
        """Draw every random parameter of tuple ``index`` (the only place randomness happens)."""
        index = int(index)
        if index < 0:
            raise IndexError(f"tuple index must be non-negative, got {index}")
        spec = self.spec
        k = source_for_index(self.seed, index, len(self.sources))

        def rng(name: str) -> np.random.Generator:
            return component_rng(self.seed, index, name)

        geo_spec, color_spec = spec.geometric, spec.color
        if not spec.strength.is_default:  # beyond the paper: this tuple's strengths
            s = strength.sample(rng("strength"), spec.strength)
            if s.geometric != 1.0:
                geo_spec = dataclasses.replace(geo_spec, sigma=geo_spec.sigma * s.geometric)
            if s.color != 1.0:
                color_spec = color_spec.scaled(s.color)
        toned = None if spec.tone.is_default else tone.sample(rng("tone"), spec.tone)  # beyond the paper
        # a tone change replaces T_shading: both colour transforms are the identity (not drawn)
        shaded = toned is None or not toned.active
        size = self.source_size(k)
        # the pixel limit holds for the size the photo is resized to, too (a thin strip enlarged)
        crop.check_resized_pixels(spec.crop, spec.size, self.max_pixels, self.source_name(k), size)
        return TupleParams(
            index=index,
            source_index=k,
            crop=crop.sample(rng("crop"), spec.crop, size, spec.size),
            geometric=geometric.sample(rng("geometric"), geo_spec) if spec.enabled("geometric") else geometric.identity(),
            color_a=color.sample(rng("color_a"), color_spec) if shaded and spec.enabled("color_a") else color.identity(),
            color_b=color.sample(rng("color_b"), color_spec) if shaded and spec.enabled("color_b") else color.identity(),
            mix=mix.sample(rng("mix"), spec.mix) if spec.enabled("mix") else mix.identity(spec.mix),
            mask=mask.sample(rng("mask"), spec.mask, spec.height, spec.width),
            tone=toned,
        )

    def crop_image(self, params: TupleParams) -> np.ndarray:
        """The ground truth ``I`` of ``params``: its source photo resized and cropped."""
        return crop.apply(self.load(params.source_index), params.crop, self.spec.size)

    def render(self, params: TupleParams, *, dtype: Any = np.uint8, out: Any = None, threads: int | None = None) -> TrainingTuple:
        """Render (or replay) the tuple of ``params`` (see :func:`render` for the options)."""
        return render(self.crop_image(params), params, self.spec, dtype=dtype, out=out, threads=threads)

    def stages(self, index_or_params: int | TupleParams) -> Stages:
        """Intermediate images of T for a tuple (paper Figure 2)."""
        params = index_or_params if isinstance(index_or_params, TupleParams) else self.sample_params(index_or_params)
        return render_stages(self.crop_image(params), params, self.spec)
