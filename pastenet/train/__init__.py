"""Training: options (:class:`TrainOptions`), the loop (:func:`train`), run folders, multi-process."""

from .loop import TrainResult, train
from .options import RESUMABLE_CHANGES, TrainOptions, options_from_record

__all__ = ["train", "TrainResult", "TrainOptions", "RESUMABLE_CHANGES", "options_from_record"]
