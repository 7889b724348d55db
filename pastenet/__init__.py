"""pastenet: the copy-paste GAN of "Smart, Deep Copy-Paste" (Portenier et al. 2019).

A U-Net generator with dilated middle layers, noise-addition layers and pixelwise normalisation
predicts a residual over the transformed source; a global + local conditional discriminator
trains it as a WGAN-GP together with an L1 reconstruction loss. Training data comes from
``pastegen`` (an HDF5 tuple file, or a stream).
"""

from importlib import import_module
from typing import Any

from ._version import __version__
from .config import PRESETS, ModelConfig, preset
from .errors import CheckpointError, CheckpointNotFoundError, ConfigError, DataError, MaskError, PasteError, PastenetError, PasteWarning, ResumeError

# Loaded on first use (PEP 562): ``import pastenet`` does not import torch. The functions
# ``train`` and ``paste`` live in the submodules of those names: ``from pastenet.train import
# train``, ``from pastenet.paste import paste``; ``load_generator`` lives in ``pastenet.loading``.
_LAZY = {
    "TrainOptions": "train",
    "TrainResult": "train",
    "Generator": "models",
    "Discriminator": "models",
    "compose": "models",
    "load_generator": "loading",
    "list_models": "zoo",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "__version__",
    "PRESETS",
    "ModelConfig",
    "preset",
    "PastenetError",
    "ConfigError",
    "DataError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "ResumeError",
    "PasteError",
    "MaskError",
    "PasteWarning",
    *_LAZY,
]
