"""Loading a trained generator for inference: a model-zoo name, a run, a checkpoint or a weights file.

::

    from pastenet.loading import load_generator

    model = load_generator("faces-poisson-256")               # a model-zoo name (`pastenet models`)
    model = load_generator("runs/00000-tiny-stream-faces")    # a run: its newest checkpoint

What a path means is decided by :func:`pastenet.checkpoint.resolve_weights` (its docstring has
the table of accepted inputs); the weights are checked (sha256, dtype, finite values) and the
model record bounded before G is built. The result, a :class:`PasteModel`, is what
:func:`pastenet.paste.paste` takes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .checkpoint import ResolvedWeights, load_generator_weights, resolve_weights
from .config import ModelConfig, model_from_record
from .devices import resolve_device
from .errors import CheckpointError, ConfigError
from .models import Generator, receptive_radius

__all__ = ["PasteModel", "load_generator"]


@dataclass(frozen=True)
class PasteModel:
    """A trained generator ready for :func:`pastenet.paste.paste`.

    Attributes
    ----------
    generator : Generator
        G, in eval mode with gradients off, on ``device``.
    config : ModelConfig
        Its architecture (from the checkpoint's model record).
    device : torch.device
        Where G runs; inputs are moved there.
    checkpoint : Path
        The checkpoint directory (or bare weights file) it was loaded from.
    source : ResolvedWeights or None
        What the path given to :func:`load_generator` resolved to (the weights file, run, step,
        zoo name); None for an in-memory generator.
    """

    generator: Generator
    config: ModelConfig
    device: torch.device
    checkpoint: Path
    source: ResolvedWeights | None = field(default=None, compare=False)

    @property
    def receptive_radius(self) -> int:
        """Half-width in pixels of G's receptive field: the default ROI margin."""
        return receptive_radius(self.config)

    @property
    def size_multiple(self) -> int:
        """G's input sides are padded to multiples of this."""
        return self.config.size_multiple

    @classmethod
    def from_generator(cls, generator: Generator, *, device: str | torch.device | None = None) -> PasteModel:
        """Wrap an in-memory generator (e.g. during training or in tests); it is put in eval mode."""
        dev = resolve_device(device) if device is not None else next(generator.parameters()).device
        generator = generator.to(dev).eval().requires_grad_(False)
        return cls(generator=generator, config=generator.config, device=dev, checkpoint=Path("<memory>"))


def load_generator(path: str | os.PathLike | ResolvedWeights, *, device: str | torch.device = "auto") -> PasteModel:
    """Load the generator of a checkpoint for inference.

    Parameters
    ----------
    path : path, str or ResolvedWeights
        A model-zoo name (``pastenet models``; its sha256 is checked), a run folder (its latest
        checkpoint), a folder of numbered runs (the newest with a checkpoint), a checkpoint
        folder (``checkpoints/step-N``) or a ``.safetensors`` weights file (checked against its
        sha256 when it is a checkpoint's ``weights.safetensors``): see
        :func:`pastenet.checkpoint.resolve_weights`, whose result may also be given.
    device : str or torch.device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    PasteModel

    Raises
    ------
    CheckpointNotFoundError
        Nothing there (and not a zoo name), or a folder without a complete checkpoint.
    CheckpointError
        A damaged or foreign file, weights that are not float32 or hold NaN/Inf values (the
        message names the file and the first bad tensor), a model record that is invalid or
        beyond :data:`pastenet.config.LIMITS` (refused before the network is built), or weights
        that do not fit the stored model record.
    ZooError
        A zoo model whose shipped weights are missing or damaged (sha256 mismatch).
    ConfigError
        An unknown or unavailable device.
    """
    dev = resolve_device(device)
    ref = path if isinstance(path, ResolvedWeights) else resolve_weights(path)
    where = ref.location
    state, record = load_generator_weights(ref, map_location="cpu")
    try:
        config = model_from_record(record)
    except ConfigError as e:
        raise CheckpointError(f"{where}: the stored model record is not usable ({e})") from None
    except TypeError as e:
        raise CheckpointError(f"{where}: the stored model record is not usable ({e})") from None
    G = Generator(config)
    try:
        G.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(f"{where}: the generator weights do not fit its model record ({' '.join(first[:2])})") from None
    G = G.to(dev).eval().requires_grad_(False)
    return PasteModel(generator=G, config=config, device=dev, checkpoint=where, source=ref)
