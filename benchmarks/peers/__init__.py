"""Peer implementations of the paper's tuple transform T, for ``benchmarks/generation.py``.

Every implementation is a class built as ``cls(spec, **options)`` whose instances are called as
``renderer(image, params) -> (I_T, I_S, M)`` with ``image`` the 512x512 uint8 crop ``I`` and
``params`` a :class:`pastegen.pipeline.TupleParams`. Renderers may reuse their output buffers
between calls. :func:`make_renderer` builds one by name (also inside worker processes).

==========================  ==================================================================
name                        implementation
==========================  ==================================================================
``pastegen-kernel``         ``pastegen.kernels.render_tuple`` (fused Numba kernels)
``pastegen-kernel-batch``   ``pastegen.kernels.render_tuples`` (whole tuples across threads)
``pastegen-numpy``          ``pastegen.pipeline.render`` (the pure NumPy path)
``pastegen-reference``      ``pastegen.reference.tuple_arrays`` (scikit-image, float64)
``opencv-numpy``            :mod:`benchmarks.peers.opencv_numpy` (NumPy + OpenCV, same T)
``albumentations``          :mod:`benchmarks.peers.albumentations_pipeline`
``cpu-probe``               :mod:`benchmarks.peers.probe` (fixed CPU work: how many cores are free)
==========================  ==================================================================
"""

from __future__ import annotations

import importlib

__all__ = ["IMPLEMENTATIONS", "make_renderer"]

IMPLEMENTATIONS = {
    "pastegen-kernel": ("benchmarks.peers.pastegen_impls", "PastegenKernel"),
    "pastegen-kernel-batch": ("benchmarks.peers.pastegen_impls", "PastegenKernelBatch"),
    "pastegen-numpy": ("benchmarks.peers.pastegen_impls", "PastegenNumpy"),
    "pastegen-reference": ("benchmarks.peers.pastegen_impls", "PastegenReference"),
    "opencv-numpy": ("benchmarks.peers.opencv_numpy", "OpenCVNumpy"),
    "albumentations": ("benchmarks.peers.albumentations_pipeline", "AlbumentationsTuple"),
    "cpu-probe": ("benchmarks.peers.probe", "CpuProbe"),
}


def make_renderer(name: str, spec, **options):
    """Build the renderer ``name`` (see the table above) for ``spec``."""
    module, cls = IMPLEMENTATIONS[name]
    return getattr(importlib.import_module(module), cls)(spec, **options)
