"""The exact ``pastenet train`` command line of a recorded options record (a run's ``options.json``).

:func:`train_command` walks the ``pastenet train`` command's own options (so a new option is
picked up without a table to keep in step), in the order of the :class:`~pastenet.train.TrainOptions`
fields (data, model, optimisation, machine, output), and writes every recorded value that differs
from the command's default; floats are written with :func:`repr` (integral ones as integers), so
they parse back to the same value.
The data root is written as ``PASTEGEN_DATA_ROOT=...`` in front (the form the README uses; the
command reads ``--data-root`` from that variable). Parsing the command back with ``--dry-run``
gives the recorded options (tested). A few options have no command-line flag
(:func:`api_only_options`): they are set through the Python API, and the model card lists them.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

__all__ = ["train_command", "api_only_options", "DATA_ROOT_ENV"]

#: Options that say where and how a run ran, not what it trained: left out unless ``machine=True``.
_MACHINE_FIELDS = {k: True for k in ("device", "out", "workers", "log_every", "sample_every", "checkpoint_every", "keep", "compile")}


def _portable_root(root: str) -> str:
    """``../shared/data`` for this repository's development data root, else ``root`` as recorded."""
    from pathlib import Path

    shared = Path(__file__).resolve().parents[3] / "shared" / "data"
    try:
        return "../shared/data" if Path(root).resolve() == shared.resolve() else root
    except OSError:
        return root

DATA_ROOT_ENV = "PASTEGEN_DATA_ROOT"

# click parameter name -> TrainOptions field, where they differ (the command's parameters are
# named after the fields, pastenet.train.options.cli_options; -q/--quiet turns progress off)
_FIELD = {"quiet": "progress"}
# click parameters that are not options of the run
_NOT_OPTIONS = ("resume", "dry_run")
# TrainOptions fields that are not given on the command line: resolved by train (model)
_RESOLVED = ("model",)


def _train_params() -> list[Any]:
    """``pastenet train``'s parameters that are options of the run, in TrainOptions field order."""
    import dataclasses

    from ..cli import train
    from ..train import TrainOptions

    order = {f.name: i for i, f in enumerate(dataclasses.fields(TrainOptions))}
    params = [p for p in train.params if p.name not in _NOT_OPTIONS]
    return sorted(params, key=lambda p: order.get(_FIELD.get(p.name, p.name), len(order)))


def _word(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def train_command(options: Mapping[str, Any], *, program: str = "pastenet train", machine: bool = True) -> str:
    """The ``pastenet train`` command that gives the recorded ``options``.

    With ``machine=False`` the options that only say where and how the run ran (device, output
    folder, workers, intervals, progress; the resumable ones) are left out, and this repository's
    development data root is written as ``../shared/data``: the portable form for model cards.

    Parameters
    ----------
    options : mapping
        A :meth:`pastenet.train.TrainOptions.to_record` record (a run's ``options.json``).
    program : str
        The command's first words.

    Returns
    -------
    str
        A shell command line (arguments quoted with :func:`shlex.quote`).
    """
    words = shlex.split(program)
    prefix = ""
    for param in _train_params():
        field = _FIELD.get(param.name, param.name)
        if field not in options:
            continue
        value = options[field]
        if param.name == "data":
            if value is not None:
                words.append(str(value))
            continue
        if param.name == "quiet":  # the record holds progress = not quiet
            if value is False and machine:
                words.append("-q")
            continue
        if param.name == "data_root":
            if value is not None:
                prefix = f"{DATA_ROOT_ENV}={shlex.quote(_portable_root(str(value)))} "
            continue
        if _MACHINE_FIELDS.get(field) is not None and not machine:
            continue
        default = param.default
        if value is None or value == default:
            continue
        flag = param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0]
        if getattr(param, "is_flag", False):
            if value is True:
                words.append(flag)
            continue
        words += [flag, _word(value)]
    return prefix + " ".join(shlex.quote(w) for w in words)


def api_only_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Recorded options that differ from their default and have no ``pastenet train`` flag."""
    from ..train import TrainOptions

    on_cli = {_FIELD.get(p.name, p.name) for p in _train_params()}
    defaults = TrainOptions(data="-").to_record()
    return {k: v for k, v in options.items() if k not in on_cli and k not in _RESOLVED and k in defaults and v != defaults[k]}
