"""pastenet: the copy-paste GAN of "Smart, Deep Copy-Paste" (Portenier et al. 2019).

A U-Net generator with dilated middle layers, noise-addition layers and pixelwise normalisation
predicts a residual over the transformed source; a global + local conditional discriminator
trains it as a WGAN-GP together with an L1 reconstruction loss. Training data comes from
``pastegen`` (an HDF5 tuple file, or a stream).
"""

from ._version import __version__
from .config import PRESETS, ModelConfig, preset
from .errors import CheckpointError, ConfigError, DataError, PastenetError, ResumeError

__all__ = [
    "__version__",
    "PRESETS",
    "ModelConfig",
    "preset",
    "PastenetError",
    "ConfigError",
    "DataError",
    "CheckpointError",
    "ResumeError",
]
