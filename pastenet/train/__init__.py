"""Training: options (:class:`TrainOptions`), the loop (:func:`train`), run folders, multi-process.

The modules, in the order :func:`train` uses them:

``options``      the run's options: defaults, help texts, bounds, the command line's flags
``resume``       which run and checkpoint, with which options; restoring a checkpoint's state
``backend``      the process group, the device, precision and memory format
``datasource``   the training data, its identity (``data.json``) and the grid's fixed inputs
``networks``     G, D, G_ema and the update rule (:class:`~pastenet.train.step.GanStep`)
``step``         one training step
``stats``        the loss figures between log steps, averaged over the processes
``snapshots``    checkpoints of the running job and the sample grids
``signals``      SIGINT / SIGTERM as a flag checked between steps
``rundir``       run folders: numbering, lock, stats log, data record
``distributed``  gradient averaging and agreement between processes
``loop``         :func:`train`: the set-up steps, then the per-step driver

:func:`train` and :class:`TrainResult` are loaded on first use, so reading the options (the
command line does, to make its flags) does not import torch.
"""

from importlib import import_module
from typing import Any

from .options import RESUMABLE_CHANGES, TrainOptions, options_from_record

__all__ = ["train", "TrainResult", "TrainOptions", "RESUMABLE_CHANGES", "options_from_record"]


def __getattr__(name: str) -> Any:
    if name in ("train", "TrainResult"):
        value = getattr(import_module(".loop", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
