"""pastegen: self-supervised training tuples for smart copy-paste (Portenier et al. 2019).

From any photo I, cut a random rotated rectangle M, transform the photo with
``T = T_shading ∘ T_geometric`` and emit the tuple ``(I, I_T = I·(1−M), I_S = T(I)·M, M)``.
pastegen never imports torch.

Examples
--------
>>> import pastegen
>>> gen = pastegen.TupleGenerator(pastegen.sample_image_paths(), pastegen.preset("sample"), seed=0)
>>> t = gen[3]                      # tuple 3: depends only on (seed, 3, spec, sources)
>>> t.I.shape, t.I_S.shape, t.M.shape
((256, 256, 3), (256, 256, 3), (256, 256))
>>> t2 = gen.render(t.params)       # replaying the sampled parameters gives the same tuple
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    CorruptFileError,
    DatasetNotFoundError,
    EmptyFileError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    IncompatibleFileError,
    IncompleteFileError,
    MissingFileError,
    MissingShardError,
    NotAnImageError,
    OutputExistsError,
    OutputWriteError,
    PastegenError,
    ResumeMismatchError,
    ScanCacheWarning,
    ShardError,
    SourceError,
    SpecError,
    StoreError,
    StoreWarning,
    TruncatedImageError,
    UnsupportedImageError,
)

# Public names are loaded on first use (PEP 562), so ``import pastegen`` stays cheap and a
# program that only generates tuples never imports h5py.
_LAZY = {
    "FORMAT_VERSION": "store",
    "TupleFile": "store",
    "open_tuples": "store",
    "verify": "store",
    "COMPONENT_IDS": "rng",
    "PRESETS": "spec",
    "TupleSpec": "spec",
    "TupleParams": "params",
    "TrainingTuple": "pipeline",
    "Stages": "pipeline",
    "TupleGenerator": "pipeline",
    "preset": "spec",
    "render": "pipeline",
    "render_stages": "pipeline",
    "SourceImage": "sources",
    "SourceScan": "sources",
    "decode_image": "sources",
    "find_images": "sources",
    "dataset_paths": "sources",
    "sample_image_paths": "sources",
    "scan_sources": "sources",
    "make": "precompute",
    "MakeResult": "precompute",
    "replay_check": "precompute",
    "combine": "shards",
    "TupleStream": "stream",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pastegen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover
    from .params import TupleParams
    from .pipeline import Stages, TrainingTuple, TupleGenerator, render, render_stages
    from .precompute import MakeResult, make, replay_check
    from .rng import COMPONENT_IDS
    from .shards import combine
    from .sources import SourceImage, SourceScan, dataset_paths, decode_image, find_images, sample_image_paths, scan_sources
    from .spec import PRESETS, TupleSpec, preset
    from .store import FORMAT_VERSION, TupleFile, open_tuples, verify
    from .stream import TupleStream

__all__ = [
    "__version__",
    "FORMAT_VERSION",
    "COMPONENT_IDS",
    "PRESETS",
    "TupleSpec",
    "TupleParams",
    "TrainingTuple",
    "Stages",
    "TupleGenerator",
    "preset",
    "render",
    "render_stages",
    "SourceImage",
    "SourceScan",
    "decode_image",
    "find_images",
    "dataset_paths",
    "sample_image_paths",
    "scan_sources",
    "TupleFile",
    "open_tuples",
    "verify",
    "make",
    "MakeResult",
    "replay_check",
    "combine",
    "TupleStream",
    "PastegenError",
    "SpecError",
    "ImageError",
    "EmptyFileError",
    "NotAnImageError",
    "TruncatedImageError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "UnsupportedImageError",
    "SourceError",
    "DatasetNotFoundError",
    "StoreError",
    "OutputExistsError",
    "IncompleteFileError",
    "IncompatibleFileError",
    "CorruptFileError",
    "ResumeMismatchError",
    "MissingFileError",
    "OutputWriteError",
    "StoreWarning",
    "ScanCacheWarning",
    "ShardError",
    "MissingShardError",
]
