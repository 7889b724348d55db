"""Typed errors raised by pastenet.

Every error the library raises on purpose derives from :class:`PastenetError`; the CLI turns each
into a single ``Error: ...`` line. Messages are one line and say what to do where that helps.
"""

from __future__ import annotations

__all__ = [
    "PastenetError",
    "ZooError",
    "ConfigError",
    "DataError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "ResumeError",
    "PasteError",
    "ImageTooLargeError",
    "MaskError",
    "PasteWarning",
]


class PastenetError(Exception):
    """Base class of every error pastenet raises on purpose."""


class ConfigError(PastenetError, ValueError):
    """An invalid option, preset name or combination of options."""


class DataError(PastenetError):
    """Training data that cannot be used: incomplete or incompatible tuple file, wrong size, empty."""


class CheckpointError(PastenetError):
    """A checkpoint that is missing, damaged, or does not fit the model or options it is loaded into."""


class CheckpointNotFoundError(CheckpointError):
    """Nothing to load where a path points: it does not exist (and is not a model-zoo name), or a
    folder holds no complete checkpoint (:func:`pastenet.checkpoint.resolve_weights`)."""


class ResumeError(CheckpointError):
    """``--resume`` cannot continue the run: no checkpoint, or one of other options."""


class ZooError(PastenetError):
    """An unknown model-zoo name, a damaged shipped weights file, or a bad export."""


class PasteError(PastenetError, ValueError):
    """Images, masks or options that cannot be pasted (wrong shape, dtype, size, unreadable file)."""


class ImageTooLargeError(PasteError):
    """An image whose header claims more pixels than the limit (checked before decoding)."""


class MaskError(PasteError):
    """A mask of the wrong size, an empty mask, or one placed entirely outside the target."""


class PasteWarning(UserWarning):
    """Something was adjusted or looks wrong, and the paste went ahead: a region cut at the
    target's border, a noisy (e.g. JPEG) mask, a 16-bit result written as 8 bits."""
