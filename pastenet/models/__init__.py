"""The networks: the copy-paste generator G and the conditional global + local discriminator D."""

from .boxes import integer_stride, mask_boxes, predict_in_boxes
from .discriminator import Discriminator, crop_windows, local_window_origin
from .generator import Generator, compose, receptive_radius
from .heads import apply_head, network_output, network_size, predict
from .layers import NoiseAdd, PixelNorm

__all__ = [
    "Generator",
    "Discriminator",
    "compose",
    "predict",
    "predict_in_boxes",
    "mask_boxes",
    "integer_stride",
    "apply_head",
    "network_size",
    "network_output",
    "receptive_radius",
    "local_window_origin",
    "crop_windows",
    "PixelNorm",
    "NoiseAdd",
]
